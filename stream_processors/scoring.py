"""The scorer's pure middle: decoded records in, Prediction and DeadLetter events out.

No Kafka here: the transport hands in (key, value, partition, offset, timestamp) tuples and
gets events back, so every dead-letter reason and every prediction field is unit-tested
without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
from riskstream.schemas.patient_record import IMPUTABLE, validate_record

Input = Consumed  # one consumed PatientRecord message, as the transport saw it


@dataclass
class ScoredBatch:
    predictions: list[tuple[bytes, Prediction]]  # (key, event): served, one per valid record
    dead_letters: list[tuple[bytes | None, DeadLetter]]
    shadow: list[tuple[bytes, Prediction]] = field(default_factory=list)  # the other variant's


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
    """Decode → validate → score → events. The champion ``model`` scores every valid record;
    so does the ``challenger`` when there is one. Each record's score from the variant that
    serves its patient (see :func:`serving_variant`) is served, the other one is shadow.
    Predictions carry, and are keyed by, the patient's reference under ``pseudonym_key``,
    never the patient id."""
    good, dead = _valid(items, codec)
    refs = [patient_ref(pseudonym_key, record["patient_id"]) for _, record in good]
    if challenger is None:
        return ScoredBatch(_predict(good, refs, model, model_name, CHAMPION_VARIANT, None), dead)
    served_by = [serving_variant(ref, split) for ref in refs]
    champion = _predict(good, refs, model, model_name, CHAMPION_VARIANT, served_by)
    rival = _predict(good, refs, challenger, model_name, CHALLENGER_VARIANT, served_by)
    served, shadow = [], []
    for variant, ours, theirs in zip(served_by, champion, rival, strict=True):
        first, second = (ours, theirs) if variant == CHAMPION_VARIANT else (theirs, ours)
        served.append(first)
        shadow.append(second)
    return ScoredBatch(served, dead, shadow)


def _valid(
    items: Sequence[Input], codec: AvroCodec
) -> tuple[list[tuple[Input, dict[str, Any]]], list[tuple[bytes | None, DeadLetter]]]:
    good: list[tuple[Input, dict[str, Any]]] = []
    dead: list[tuple[bytes | None, DeadLetter]] = []
    for item in items:
        try:
            record = codec.decode(item.value, "PatientRecord", times_as_ms=True)
        except CodecError as exc:
            dead.append((item.key, dead_letter_for(item, exc.reason, exc.message)))
            continue
        key_problem = _key_problem(item.key, record["patient_id"])
        if key_problem:
            dead.append((item.key, dead_letter_for(item, "wrong_key", key_problem)))
            continue
        violation = validate_record(record)
        if violation is not None:
            dead.append((item.key, dead_letter_for(item, violation.reason, violation.detail)))
            continue
        good.append((item, record))
    return good, dead


def _predict(
    good: list[tuple[Input, dict[str, Any]]],
    refs: list[str],
    model: ScoringModel,
    model_name: str,
    variant: str,
    served_by: list[str] | None,
) -> list[tuple[bytes, Prediction]]:
    """One model version's predictions of ``good``; shadow where ``served_by`` names the
    other variant."""
    if not good:
        return []
    features = model.pipeline.matrix([record for _, record in good])
    risk = model.risk(features)
    top3 = model.contributions(features, top=3)
    scored_at = now_ms()
    names = model.feature_names
    labels = (risk >= model.threshold).astype(int).tolist()
    risks = risk.tolist()
    rows = features.tolist()  # Python floats in one call, not one numpy scalar at a time
    ids = new_ids(len(good))
    threshold, version = float(model.threshold), model.version
    predictions: list[tuple[bytes, Prediction]] = []
    for i, (item, record) in enumerate(good):
        predictions.append(
            (
                refs[i].encode(),
                Prediction(
                    prediction_id=ids[i],
                    request_id=record["request_id"],
                    patient_ref=refs[i],
                    event_time=record["event_time"],
                    scored_at=scored_at,
                    model_name=model_name,
                    model_version=version,
                    risk=risks[i],
                    label=labels[i],
                    threshold=threshold,
                    latency_ms=float(max(0, scored_at - item.timestamp_ms)),
                    features=dict(zip(names, rows[i], strict=True)),
                    missing=[name for name in IMPUTABLE if record.get(name) is None],
                    contributions=[{"feature": f, "value": v} for f, v in top3[i]],
                    source_partition=item.partition,
                    source_offset=item.offset,
                    source=record.get("source"),
                    variant=variant,
                    shadow=served_by is not None and served_by[i] != variant,
                ),
            )
        )
    return predictions


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
