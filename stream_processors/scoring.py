"""The scorer's pure middle: consumed records in; predictions (as columns, and as their wire
bytes or events on demand) and DeadLetter events out.

No Kafka here: the transport hands in (key, value, partition, offset, timestamp) tuples and
gets a :class:`ScoredBatch` back, so every dead-letter reason and every prediction field is
unit-tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np

from riskstream.core.ids import new_ids, now_ms
from riskstream.core.pseudonyms import patient_ref
from riskstream.models.bundle import ScoringModel
from riskstream.models.monitoring.variants import (
    CHALLENGER_VARIANT,
    CHAMPION_VARIANT,
    serving_variant,
)
from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.events import Consumed, DeadLetter, Prediction
from riskstream.schemas.patient_record import IMPUTABLE, RAW_FEATURES, validate_record
from riskstream.schemas.prediction_columns import PredictionColumns
from riskstream.schemas.record_columns import (
    NULLABLE,
    NUMBERS,
    RecordColumns,
    concat,
    decode_records,
    from_records,
    rule_breakers,
)

Input = Consumed  # one consumed PatientRecord message, as the transport saw it


Encoded = tuple[bytes, bytes, int]  # (key, the Prediction's wire bytes, partition)


@dataclass
class ScoredBatch:
    """A batch's dead letters, and its valid records' scores as columns: the champion's, and
    the challenger's when one is scored. Prediction objects are built only when asked for
    (:attr:`predictions`, :attr:`shadow`); the scorer encodes the columns (:meth:`encoded`)."""

    dead_letters: list[tuple[bytes | None, DeadLetter]]
    champion: PredictionColumns | None = None  # None: no valid record
    challenger: PredictionColumns | None = None
    served_by: list[str] = field(default_factory=list)  # per record, when there is a challenger

    @cached_property
    def predictions(self) -> list[tuple[bytes, Prediction]]:
        """(key, event): served, one per valid record."""
        return [(ref.encode(), p) for ref, p in self._events(served=True)]

    @cached_property
    def shadow(self) -> list[tuple[bytes, Prediction]]:
        """(key, event): the other variant's score of each valid record, if one was scored."""
        return [(ref.encode(), p) for ref, p in self._events(served=False)]

    def _events(self, served: bool) -> list[tuple[str, Prediction]]:
        if self.champion is None:
            return []
        if self.challenger is None:
            if not served:
                return []
            cols = self.champion
            return [(cols.patient_refs[i], cols.event(i)) for i in range(len(cols))]
        out = []
        for i, variant in enumerate(self.served_by):
            champion_serves = variant == CHAMPION_VARIANT
            cols = self.champion if champion_serves == served else self.challenger
            out.append((cols.patient_refs[i], cols.event(i, shadow=not served)))
        return out

    def encoded(self, codec: AvroCodec) -> tuple[list[Encoded], list[Encoded]]:
        """The served and the shadow predictions in the codec's wire format, each with its
        key and the partition of its record, written from the columns."""
        cols = self.champion
        if cols is None:
            return [], []
        keys = [ref.encode() for ref in cols.patient_refs]
        places = cols.source_partitions.tolist()
        if self.challenger is None:
            values = cols.encode(codec, [False] * len(cols))
            return list(zip(keys, values, places, strict=True)), []
        ours = [v != CHAMPION_VARIANT for v in self.served_by]  # the champion's is shadow
        theirs = [not shadow for shadow in ours]
        champion = cols.encode(codec, ours)
        rival = self.challenger.encode(codec, theirs)
        served, shadow = [], []
        for i, champion_shadow in enumerate(ours):
            first, second = (rival[i], champion[i]) if champion_shadow else (champion[i], rival[i])
            served.append((keys[i], first, places[i]))
            shadow.append((keys[i], second, places[i]))
        return served, shadow


def dead_letter_for(item: Input, reason: str, detail: str) -> DeadLetter:
    return DeadLetter.of(item, "scorer", reason, detail)


def score_batch(
    items: Sequence[Input],
    model: ScoringModel,
    codec: AvroCodec,
    model_name: str,
    challenger: ScoringModel | None = None,
    split: float = 0.0,
    *,
    pseudonym_key: bytes,
) -> ScoredBatch:
    """Decode → validate → score. The champion ``model`` scores every valid record; so does
    the ``challenger`` when there is one. Each record's score from the variant that serves
    its patient (see :func:`serving_variant`) is served, the other one is shadow.
    Predictions carry, and are keyed by, the patient's reference under ``pseudonym_key``,
    never the patient id."""
    good, dead = _valid(items, codec)
    if not good.items:
        return ScoredBatch(dead)
    refs = [patient_ref(pseudonym_key, patient) for patient in good.records.patient_ids]
    champion = _predict(good, refs, model, model_name, CHAMPION_VARIANT)
    if challenger is None:
        return ScoredBatch(dead, champion)
    served_by = [serving_variant(ref, split) for ref in refs]
    rival = _predict(good, refs, challenger, model_name, CHALLENGER_VARIANT)
    return ScoredBatch(dead, champion, rival, served_by)


@dataclass
class _Good:
    """A batch's valid records in the order they came: their inputs and their fields."""

    items: list[Input]
    records: RecordColumns


def _valid(
    items: Sequence[Input], codec: AvroCodec
) -> tuple[_Good, list[tuple[bytes | None, DeadLetter]]]:
    """The valid records, and a dead letter for each other one (in input order). Records of
    this process's schema are decoded and checked as columns; the rest, and any row the
    columns flag, one by one with the codec and :func:`validate_record`, which name why."""
    columns, taken, left = decode_records(codec, [item.value for item in items])
    dead: list[tuple[int, DeadLetter]] = []
    rows: list[int] = []  # of ``columns``: the valid ones
    fast: list[int] = []  # their indexes in ``items``
    flagged = rule_breakers(columns).tolist()
    for row, i in enumerate(taken):
        check = partial(columns.record, row) if flagged[row] else None
        problem = _problem(items[i], columns.patient_ids[row], check)
        if problem is not None:
            dead.append((i, problem))
        else:
            rows.append(row)
            fast.append(i)
    good = columns.take(rows)
    slow: list[tuple[int, dict[str, Any]]] = []
    for i in left:
        item = items[i]
        try:
            record = codec.decode(item.value, "PatientRecord", times_as_ms=True)
        except CodecError as exc:
            dead.append((i, dead_letter_for(item, exc.reason, exc.message)))
            continue
        problem = _problem(item, record["patient_id"], partial(dict, record))
        if problem is not None:
            dead.append((i, problem))
        else:
            slow.append((i, record))
    order = fast
    if slow:  # merged back into input order: a partition's predictions keep its order
        order = fast + [i for i, _ in slow]
        merged = concat(good, from_records([record for _, record in slow]))
        rank = sorted(range(len(order)), key=order.__getitem__)
        good, order = merged.take(rank), [order[k] for k in rank]
    dead.sort(key=lambda pair: pair[0])
    letters = [(items[i].key, letter) for i, letter in dead]
    return _Good([items[i] for i in order], good), letters


def _problem(
    item: Input, patient_id: str, record: Callable[[], dict[str, Any]] | None
) -> DeadLetter | None:
    """The dead letter of a decoded record with a wrong key or a broken rule, else None;
    ``record`` gives the record to check the rules on (None: it passed them)."""
    if item.key is None or item.key != patient_id.encode():
        key_problem = _key_problem(item.key, patient_id)
        if key_problem:
            return dead_letter_for(item, "wrong_key", key_problem)
    if record is not None:
        violation = validate_record(record())
        if violation is not None:
            return dead_letter_for(item, violation.reason, violation.detail)
    return None


_RAW = [NUMBERS.index(name) for name in RAW_FEATURES]
_MISSING = [NULLABLE.index(name) for name in IMPUTABLE]


def _predict(
    good: _Good, refs: list[str], model: ScoringModel, model_name: str, variant: str
) -> PredictionColumns:
    """One model version's scores of ``good``, as columns."""
    records, items = good.records, good.items
    features = model.pipeline.matrix_of(records.numbers[:, _RAW])
    risk = model.risk(features)
    top_features, top_values = model.top_contributions(features, top=3)
    scored_at = now_ms()
    received = np.fromiter((item.timestamp_ms for item in items), np.int64, len(items))
    nulls = records.nulls[:, _MISSING]
    some = set(np.flatnonzero(nulls.any(axis=1)).tolist())
    missing = [
        [IMPUTABLE[j] for j in np.flatnonzero(nulls[i]).tolist()] if i in some else []
        for i in range(len(items))
    ]
    return PredictionColumns(
        prediction_ids=new_ids(len(items)),
        request_ids=records.request_ids,
        patient_refs=refs,
        event_times=records.event_times,
        scored_at=scored_at,
        model_name=model_name,
        model_version=model.version,
        risks=np.asarray(risk, dtype=float),
        labels=(risk >= model.threshold).astype(np.int64),
        threshold=float(model.threshold),
        latencies=np.maximum(0, scored_at - received).astype(float),
        feature_names=tuple(model.feature_names),
        features=np.asarray(features, dtype=float),
        missing=missing,
        top_features=top_features,
        top_values=top_values,
        source_partitions=np.fromiter((item.partition for item in items), np.int64, len(items)),
        source_offsets=np.fromiter((item.offset for item in items), np.int64, len(items)),
        sources=list(records.sources),
        variant=variant,
    )


def _key_problem(key: bytes | None, patient_id: str) -> str | None:
    if key is None:
        return "record has no key; records are keyed by patient id"
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return "key is not UTF-8 text; records are keyed by patient id"
    if text != patient_id:
        return "key does not equal the record's patient id"
    return None
