"""A batch of PatientRecords decoded into columns at once: the scorer's read path.

fastavro decodes one record per call into a dict (about 6 us each, with the codec's checks),
and the scorer then took the dicts apart again into a feature matrix. Here the records of a
batch that carry this process's PatientRecord schema are parsed together, field by field,
with numpy: each field's varint, union branch or double is read for every record in one
array operation, and only the three strings are cut out per record.

The parse is strict. A record is *taken* only if every field decodes and the record ends
exactly where its payload does; anything else (another schema id, a bad header, a bad
union branch, a string running past the end, trailing bytes, invalid UTF-8) is *left* for
the codec's per-record ``decode``, which raises the error the dead letter names. So a
record decodes here to what ``decode`` gives it, or is not decoded here at all: the unit
tests compare both on valid and on damaged payloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskstream.schemas.codec import HEADER_SIZE, AvroCodec
from riskstream.schemas.patient_record import RANGES

# The shipped PatientRecord's fields in wire order, as this module reads them.
STRINGS = ("request_id", "patient_id", "source")
NULLABLE = ("glucose", "blood_pressure", "skin_thickness", "insulin", "bmi")
NUMBERS = (
    "pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi", "pedigree",
    "age",
)  # fmt: skip
INTS = ("pregnancies", "age")  # Avro ints; the other numbers are doubles
_PAD = 16  # zero bytes after the last payload: a read past it stays inside the buffer
_SPAN = np.arange(10)


@dataclass
class RecordColumns:
    """The decoded fields of the records taken, in the order given."""

    request_ids: list[str]
    patient_ids: list[str]
    sources: list[str]
    event_times: np.ndarray  # int64 ms
    numbers: np.ndarray  # (records, len(NUMBERS)) float64; NaN where the field is null
    nulls: np.ndarray  # (records, len(NULLABLE)) bool: the field is null (not a NaN value)

    def __len__(self) -> int:
        return len(self.request_ids)

    def take(self, rows: list[int]) -> RecordColumns:
        return RecordColumns(
            [self.request_ids[i] for i in rows],
            [self.patient_ids[i] for i in rows],
            [self.sources[i] for i in rows],
            self.event_times[rows],
            self.numbers[rows],
            self.nulls[rows],
        )

    def record(self, i: int) -> dict[str, Any]:
        """Record ``i`` as ``AvroCodec.decode(..., times_as_ms=True)`` gives it."""
        out: dict[str, Any] = {
            "request_id": self.request_ids[i],
            "patient_id": self.patient_ids[i],
            "source": self.sources[i],
            "event_time": int(self.event_times[i]),
        }
        values = self.numbers[i].tolist()
        nulls = dict(zip(NULLABLE, self.nulls[i].tolist(), strict=True))
        for name, value in zip(NUMBERS, values, strict=True):
            if nulls.get(name):
                out[name] = None
            elif name in INTS:
                out[name] = int(value)
            else:
                out[name] = value
        return out


def _varint(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The zig-zag varint at each of ``pos``: its value, the position after it, and whether
    it is one (it ends within 10 bytes)."""
    raw = buf[pos[:, None] + _SPAN]
    ends = (raw & 0x80) == 0
    ok = ends.any(axis=1)
    last = ends.argmax(axis=1)
    groups = (raw & 0x7F).astype(np.uint64) << (7 * _SPAN).astype(np.uint64)
    z = np.where(last[:, None] >= _SPAN, groups, np.uint64(0)).sum(axis=1, dtype=np.uint64)
    value = (z >> np.uint64(1)).astype(np.int64) ^ -(z & np.uint64(1)).astype(np.int64)
    ok &= (last < 9) | (raw[np.arange(len(pos)), 9] <= 1)  # no bits past the 64th
    return value, pos + last + 1, ok


def _doubles(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(buf[pos[:, None] + np.arange(8)]).view("<f8")[:, 0]


def decode_records(
    codec: AvroCodec, payloads: Sequence[bytes | None]
) -> tuple[RecordColumns, list[int], list[int]]:
    """The records of ``payloads`` this parse takes, as columns, the indexes they came
    from, and the indexes left for the codec's per-record ``decode``."""
    candidates = _candidates(codec, payloads)
    taken: list[int] = []
    columns = from_records([])
    if candidates:
        parsed, ok = _parse([payloads[i] for i in candidates])  # type: ignore[misc]
        taken = [i for i, good in zip(candidates, ok.tolist(), strict=True) if good]
        columns = parsed.take(np.flatnonzero(ok).tolist())
    chosen = set(taken)
    return columns, taken, [i for i in range(len(payloads)) if i not in chosen]


def _candidates(codec: AvroCodec, payloads: Sequence[bytes | None]) -> list[int]:
    """Payloads with the wire header of this codec's PatientRecord schema, within size."""
    if not codec.has_shipped_schema("PatientRecord"):
        return []
    header = codec.header("PatientRecord")
    limit = codec.max_payload_bytes
    return [
        i
        for i, data in enumerate(payloads)
        if data is not None
        and len(data) > HEADER_SIZE
        and (limit is None or len(data) <= limit)
        and data[:HEADER_SIZE] == header
    ]


def _parse(payloads: list[bytes]) -> tuple[RecordColumns, np.ndarray]:
    sizes = np.fromiter((len(p) for p in payloads), np.int64, len(payloads))
    ends = np.cumsum(sizes)
    joined = b"".join(payloads)
    buf = np.frombuffer(joined + bytes(_PAD), dtype=np.uint8)
    pos = ends - sizes + HEADER_SIZE
    ok = np.ones(len(payloads), dtype=bool)
    bounds = []
    for _ in STRINGS:
        size, start, good = _varint(buf, np.minimum(pos, len(joined)))
        ok &= good & (size >= 0) & (size <= sizes)
        pos = start + np.clip(size, 0, sizes)  # clipped: a huge length cannot wrap around
        ok &= pos <= ends
        bounds.append((start, pos))
    event_times, pos, good = _varint(buf, np.minimum(pos, len(joined)))
    ok &= good
    numbers = np.full((len(payloads), len(NUMBERS)), np.nan)
    nulls = np.zeros((len(payloads), len(NULLABLE)), dtype=bool)
    for j, name in enumerate(NUMBERS):
        pos = np.minimum(pos, len(joined))
        if name in INTS:
            value, pos, good = _varint(buf, pos)
            ok &= good & (value >= -(2**31)) & (value < 2**31)
            numbers[:, j] = value
        elif name == "pedigree":
            numbers[:, j] = _doubles(buf, pos)
            pos = pos + 8
        else:
            branch, pos, good = _varint(buf, pos)
            ok &= good & ((branch == 0) | (branch == 1))
            present = branch == 1
            values = _doubles(buf, np.minimum(pos, len(joined)))
            numbers[:, j] = np.where(present, values, np.nan)
            nulls[:, NULLABLE.index(name)] = ~present
            pos = pos + np.where(present, 8, 0)
    ok &= pos == ends
    texts: list[list[str]] = [[], [], []]
    flags = ok.tolist()
    cuts = [(s.tolist(), e.tolist()) for s, e in bounds]
    for i in range(len(payloads)):
        if not flags[i]:
            for column in texts:
                column.append("")
            continue
        try:
            row = [joined[s[i] : e[i]].decode() for s, e in cuts]
        except UnicodeDecodeError:
            flags[i] = False
            row = ["", "", ""]
        for column, text in zip(texts, row, strict=True):
            column.append(text)
    columns = RecordColumns(texts[0], texts[1], texts[2], event_times, numbers, nulls)
    return columns, np.asarray(flags, dtype=bool)


def from_records(records: Sequence[dict[str, Any]]) -> RecordColumns:
    """Columns of records the codec decoded one by one (another writer schema, say)."""
    numbers = np.empty((len(records), len(NUMBERS)))
    if records:
        numbers[:] = [[r.get(name) for name in NUMBERS] for r in records]  # None → NaN
    return RecordColumns(
        [r["request_id"] for r in records],
        [r["patient_id"] for r in records],
        [r["source"] for r in records],
        np.fromiter((r["event_time"] for r in records), np.int64, len(records)),
        numbers,
        np.array([[r.get(name) is None for name in NULLABLE] for r in records], dtype=bool).reshape(
            len(records), len(NULLABLE)
        ),
    )


def concat(first: RecordColumns, second: RecordColumns) -> RecordColumns:
    return RecordColumns(
        first.request_ids + second.request_ids,
        first.patient_ids + second.patient_ids,
        first.sources + second.sources,
        np.concatenate([first.event_times, second.event_times]),
        np.concatenate([first.numbers, second.numbers]),
        np.concatenate([first.nulls, second.nulls]),
    )


def rule_breakers(columns: RecordColumns) -> np.ndarray:
    """Rows that may break a rule of :func:`validate_record` (a value present and NaN, or
    outside its range), vectorised: ``validate_record`` names the rule of each. Every row
    it would refuse is here (a unit test compares)."""
    broken = np.zeros(len(columns), dtype=bool)
    for name, (low, high) in RANGES.items():
        values = columns.numbers[:, NUMBERS.index(name)]
        present = ~columns.nulls[:, NULLABLE.index(name)] if name in NULLABLE else True
        with np.errstate(invalid="ignore"):
            broken |= present & ~((values >= low) & (values <= high))  # NaN fails both
    return broken
