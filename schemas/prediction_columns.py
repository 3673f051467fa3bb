"""One model version's predictions of a batch, as columns, and their Avro bytes written from
the columns: the scorer's hot path builds no Prediction object per record.

Building a 20-field Prediction per record and walking it again to encode it was the largest
cost left in the scorer (about 6 + 10.7 us of its 45 per record, measured under backlog). Here
the fields a batch shares (model, version, threshold, time of scoring, variant) are encoded
once per batch, the fixed-width run of each record (risk, label, threshold, latency and the
feature map, whose keys are the model's) is laid out by numpy for the whole batch in one
structured array, and the per-record remainder is a handful of byte strings joined once.

The bytes are those the codec writes for the same :class:`Prediction` (``encode_event``), in
the Confluent wire format: the unit tests compare them record by record. They are written
here only when the codec's Prediction schema is the shipped one, whose fields this module
lays out (:data:`LAYOUT`, checked by the unit tests); otherwise each record is built as an
event and encoded by the codec. :meth:`PredictionColumns.event` builds one record's event
when something needs the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskstream.schemas.avro_writer import avro_long, avro_string
from riskstream.schemas.codec import AvroCodec
from riskstream.schemas.events import Prediction

# The shipped Prediction's fields in order: the layout below writes exactly these.
LAYOUT = (
    "prediction_id", "request_id", "patient_ref", "event_time", "scored_at", "model_name",
    "model_version", "risk", "label", "threshold", "latency_ms", "features", "missing",
    "contributions", "source_partition", "source_offset", "source", "variant", "shadow",
)  # fmt: skip


_END = b"\x00"  # the empty block that ends an Avro map or array, and a union's null branch


def _strings(values: Sequence[str]) -> bytes:
    """An Avro array of strings."""
    if not values:
        return _END
    return avro_long(len(values)) + b"".join(avro_string(v) for v in values) + _END


def _varints(values: np.ndarray) -> list[bytes]:
    """The zig-zag varints of int64 ``values`` (Avro's int and long), computed for the whole
    column at once."""
    n = np.asarray(values, dtype=np.int64)
    z = ((n << 1) ^ (n >> 63)).view(np.uint64)
    groups = np.stack([(z >> np.uint64(7 * j)) & np.uint64(0x7F) for j in range(10)], axis=1)
    # a shift by 64 bits or more is undefined in C: the tenth group never has a successor
    more = np.stack([z >> np.uint64(7 * (j + 1)) for j in range(9)], axis=1) != 0
    more = np.concatenate([more, np.zeros((len(n), 1), dtype=bool)], axis=1)
    lengths = (1 + more.sum(axis=1)).tolist()
    buffer = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8).tobytes()
    return [buffer[10 * i : 10 * i + size] for i, size in enumerate(lengths)]


@dataclass
class PredictionColumns:
    """What a Prediction carries, for ``len(request_ids)`` records scored by one version."""

    prediction_ids: list[str]
    request_ids: list[str]
    patient_refs: list[str]
    event_times: np.ndarray  # int64 ms
    scored_at: int
    model_name: str
    model_version: str
    risks: np.ndarray  # float64
    labels: np.ndarray  # 0 or 1
    threshold: float
    latencies: np.ndarray  # float64 ms
    feature_names: tuple[str, ...]
    features: np.ndarray  # (records, features) float64, after imputation
    missing: list[list[str]]
    top_features: np.ndarray  # (records, top) indexes into feature_names, largest first
    top_values: np.ndarray  # (records, top) float64 contributions
    source_partitions: np.ndarray  # int64
    source_offsets: np.ndarray  # int64
    sources: list[str | None]
    variant: str

    def __len__(self) -> int:
        return len(self.request_ids)

    def event(self, i: int, shadow: bool = False) -> Prediction:
        """Record ``i``'s Prediction, with Python numbers as the codec decodes them."""
        names = self.feature_names
        return Prediction(
            prediction_id=self.prediction_ids[i],
            request_id=self.request_ids[i],
            patient_ref=self.patient_refs[i],
            event_time=int(self.event_times[i]),
            scored_at=self.scored_at,
            model_name=self.model_name,
            model_version=self.model_version,
            risk=float(self.risks[i]),
            label=int(self.labels[i]),
            threshold=self.threshold,
            latency_ms=float(self.latencies[i]),
            features=dict(zip(names, self.features[i].tolist(), strict=True)),
            missing=list(self.missing[i]),
            contributions=[
                {"feature": names[j], "value": v}
                for j, v in zip(
                    self.top_features[i].tolist(), self.top_values[i].tolist(), strict=True
                )
            ],
            source_partition=int(self.source_partitions[i]),
            source_offset=int(self.source_offsets[i]),
            source=self.sources[i],
            variant=self.variant,
            shadow=shadow,
        )

    def encode(self, codec: AvroCodec, shadow: Sequence[bool]) -> list[bytes]:
        """Each record's Prediction in the codec's wire format; ``shadow[i]`` is record
        ``i``'s ``shadow`` field."""
        if not codec.has_shipped_schema("Prediction"):
            return [codec.encode_event(self.event(i, s)) for i, s in enumerate(shadow)]
        count = len(self)
        if count == 0:
            return []
        names = [avro_string(n) for n in self.feature_names]
        fixed = self._fixed_run(names)
        width = fixed.itemsize
        runs = fixed.tobytes()
        times = _varints(self.event_times)
        places = _varints(self.source_partitions)
        offsets = _varints(self.source_offsets)
        head = codec.header("Prediction")
        shared = (
            avro_long(self.scored_at)
            + avro_string(self.model_name)
            + avro_string(self.model_version)
        )
        tails = {
            flag: avro_string(self.variant) + (b"\x01" if flag else b"\x00") for flag in (0, 1)
        }
        top = self.top_features.shape[1]
        top_head = avro_long(top) if top else b""
        top_values = self.top_values.astype("<f8").tobytes()
        sources: dict[str | None, bytes] = {None: _END}
        out = []
        top_features = self.top_features.tolist()
        for i in range(count):
            source = self.sources[i]
            encoded_source = sources.get(source)
            if encoded_source is None:
                encoded_source = sources[source] = b"\x02" + avro_string(source)  # type: ignore[arg-type]
            pieces = [
                head,
                avro_string(self.prediction_ids[i]),
                avro_string(self.request_ids[i]),
                avro_string(self.patient_refs[i]),
                times[i],
                shared,
                runs[width * i : width * (i + 1)],
                _strings(self.missing[i]) if self.missing[i] else _END,
                top_head,
            ]
            at = 8 * top * i
            for k, j in enumerate(top_features[i]):
                pieces.append(names[j])
                pieces.append(top_values[at + 8 * k : at + 8 * k + 8])
            pieces.append(_END)
            pieces.append(places[i])
            pieces.append(offsets[i])
            pieces.append(encoded_source)
            pieces.append(tails[1 if shadow[i] else 0])
            out.append(b"".join(pieces))
        return out

    def _fixed_run(self, names: list[bytes]) -> np.ndarray:
        """risk, label, threshold, latency_ms and the feature map (``names``: its keys,
        encoded) of every record, packed as Avro writes them (the map: its count, each key
        and double value, the end block)."""
        count = avro_long(len(names)) if names else b""
        layout: list[tuple[str, str]] = [
            ("risk", "<f8"),
            ("label", "u1"),
            ("threshold", "<f8"),
            ("latency", "<f8"),
            ("count", f"S{len(count)}" if count else "V0"),
        ]
        for j, name in enumerate(names):
            layout += [(f"k{j}", f"S{len(name)}"), (f"v{j}", "<f8")]
        layout.append(("end", "u1"))
        labels = np.asarray(self.labels, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() > 63):
            raise ValueError("a label outside 0..63 does not fit one varint byte")
        run = np.zeros(len(self), dtype=np.dtype(layout))
        run["risk"] = self.risks
        run["label"] = labels * 2  # zig-zag of a small non-negative int: one byte
        run["threshold"] = self.threshold
        run["latency"] = self.latencies
        if count:
            run["count"] = count
        for j, name in enumerate(names):
            run[f"k{j}"] = name
            run[f"v{j}"] = self.features[:, j]
        return run
