"""One frozen dataclass per Avro schema: what processor code handles instead of dicts.

The codec converts at the edge (:meth:`AvroCodec.encode_event`, :meth:`AvroCodec.decode_event`),
as confluent-kafka's Avro example keeps its `User` class apart from the dict the serializer
sees. Times are epoch milliseconds everywhere in riskstream; fastavro reads a
`timestamp-millis` field as a datetime, so :meth:`Event.from_avro` turns it back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from riskstream.core.ids import new_id, now_ms


def epoch_ms(value: int | datetime) -> int:
    """A time as epoch milliseconds, whether fastavro decoded it or a producer wrote it."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


class AlertKind(StrEnum):
    """What an alert is about; the DriftAlert schema's ``AlertKind`` enum."""

    DATA_DRIFT = "DATA_DRIFT"
    SCORE_DRIFT = "SCORE_DRIFT"
    DATA_QUALITY = "DATA_QUALITY"
    VOLUME = "VOLUME"
    PERFORMANCE = "PERFORMANCE"
    CONCEPT_DRIFT = "CONCEPT_DRIFT"
    MODEL_LOAD = "MODEL_LOAD"
    PERFORMANCE_ESTIMATE = "PERFORMANCE_ESTIMATE"
    ROLLBACK = "ROLLBACK"
    MULTIVARIATE_DRIFT = "MULTIVARIATE_DRIFT"


class AlertStatus(StrEnum):
    """FIRING when a condition is entered (or escalates), RESOLVED when it is left."""

    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class Severity(StrEnum):
    """How bad an alert is, in rising order (compare with :attr:`rank`). NOTICE sits under
    the drift bands: a trend the sequential trend test is sure of while it is still too
    small for LOW (``models/monitoring/trend.py``); the default filters hide it."""

    NOTICE = "NOTICE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self)


SEVERITIES: tuple[Severity, ...] = tuple(Severity)


class Event:
    """Base of the typed events: the Avro name and the dict conversions."""

    SCHEMA: ClassVar[str]
    TIMES: ClassVar[tuple[str, ...]] = ("event_time",)
    ENUMS: ClassVar[Mapping[str, type[StrEnum]]] = {}  # fields decoded to an enum
    _names: ClassVar[tuple[str, ...]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.SCHEMA = cls.__name__

    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_names")
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
            cls._names = names
        return names

    def to_avro(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._fields()}

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Self:
        values = {name: record[name] for name in cls._fields() if name in record}
        for name in cls.TIMES:
            if values.get(name) is not None:
                values[name] = epoch_ms(values[name])
        for name, enum in cls.ENUMS.items():
            if values.get(name) is not None:
                values[name] = enum(values[name])
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class PatientRecord(Event):
    request_id: str
    patient_id: str
    source: str
    event_time: int
    pregnancies: int
    glucose: float | None
    blood_pressure: float | None
    skin_thickness: float | None
    insulin: float | None
    bmi: float | None
    pedigree: float
    age: int


# Not frozen: the scorer makes one (two with a challenger) per record, and a frozen
# dataclass's __init__ took 4.8 us of the scorer's ~60 us per record against 0.6 us (it sets
# each of the 20 fields through object.__setattr__). Nothing hashes a Prediction (its features
# are a dict) and nothing changes one after it is made; `dataclasses.replace` makes another.
@dataclasses.dataclass(slots=True)
class Prediction(Event):
    TIMES: ClassVar[tuple[str, ...]] = ("event_time", "scored_at")
    prediction_id: str
    request_id: str
    patient_ref: str  # pseudonymous (riskstream.core.pseudonyms), never the id
    event_time: int
    scored_at: int
    model_name: str
    model_version: str
    risk: float
    label: int
    threshold: float
    latency_ms: float
    features: Mapping[str, float]
    missing: Sequence[str]
    contributions: Sequence[Mapping[str, Any]]  # {"feature", "value"}: the Contribution record
    source_partition: int
    source_offset: int
    source: str | None = None  # the clinic: the record's monitoring segment
    variant: str = "champion"  # the alias whose model made the score: champion or challenger
    shadow: bool = False  # the unserved variant's score, on shadow-predictions


@dataclasses.dataclass(frozen=True, slots=True)
class GroundTruth(Event):
    label_id: str
    request_id: str
    patient_id: str
    event_time: int
    outcome: int
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class LabeledExample(Event):
    TIMES: ClassVar[tuple[str, ...]] = ("event_time", "labeled_at")
    example_id: str
    request_id: str
    patient_ref: str  # pseudonymous (riskstream.core.pseudonyms), never the id
    event_time: int
    labeled_at: int
    features: Mapping[str, float]
    label: int
    risk: float
    predicted_label: int
    model_version: str
    prediction_partition: int
    prediction_offset: int
    truth_partition: int
    truth_offset: int
    source: str | None = None
    variant: str = "champion"  # the variant that served the prediction
    shadow_version: str | None = None  # the other variant's score of the same record, if any
    shadow_risk: float | None = None
    shadow_label: int | None = None
    # the features sealed under the patient's data key (features then empty): see
    # riskstream.core.patient_crypto; read through riskstream.io.kafka.patient_keys
    features_key_id: str | None = None
    sealed_features: bytes | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DriftAlert(Event):
    TIMES: ClassVar[tuple[str, ...]] = ("event_time", "window_start", "window_end")
    ENUMS: ClassVar[Mapping[str, type[StrEnum]]] = {
        "kind": AlertKind,
        "status": AlertStatus,
        "severity": Severity,
    }
    alert_id: str
    event_time: int
    model_name: str
    model_version: str
    kind: AlertKind
    status: AlertStatus
    severity: Severity
    feature: str | None
    statistic: str
    value: float
    threshold: float
    window_start: int
    window_end: int
    sample_size: int
    resolves_alert_id: str | None
    message: str
    segment: str | None = None  # the source segment, or None for the whole stream


@dataclasses.dataclass(frozen=True, slots=True)
class PerformanceWindow(Event):
    TIMES: ClassVar[tuple[str, ...]] = ("event_time", "window_start", "window_end")
    window_id: str
    event_time: int
    model_name: str
    model_version: str
    basis: str  # ESTIMATED | REALIZED
    window_start: int
    window_end: int
    sample_size: int
    realized: Mapping[str, float]
    estimated: Mapping[str, float]
    estimate_error: Mapping[str, float]
    segment: str | None = None
    variant: str = "served"  # served | shadow
    # each estimate's 95% interval (models/monitoring/estimate_intervals.py)
    estimated_low: Mapping[str, float] = dataclasses.field(default_factory=dict)
    estimated_high: Mapping[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class RetrainRequest(Event):
    TIMES: ClassVar[tuple[str, ...]] = ("event_time", "range_start", "range_end")
    retrain_id: str
    event_time: int
    model_name: str
    reasons: Sequence[str]
    alert_ids: Sequence[str]
    range_start: int | None
    range_end: int | None
    detail: str


@dataclasses.dataclass(frozen=True, slots=True)
class ModelVersionEvent(Event):
    event_id: str
    event_time: int
    model_name: str
    version: str | None
    alias: str | None
    previous_version: str | None
    status: str
    reason: str
    metrics: Mapping[str, float]
    run_id: str | None
    lineage: Mapping[str, str]

    @classmethod
    def announce(
        cls,
        model_name: str,
        status: str,
        *,
        version: str | None = None,
        alias: str | None = None,
        previous_version: str | None = None,
        reason: str = "",
        metrics: Mapping[str, float] | None = None,
        run_id: str | None = None,
        lineage: Mapping[str, str] | None = None,
    ) -> ModelVersionEvent:
        """A new event, now; NaN metrics are left out (Avro doubles carry them, readers
        choke on them)."""
        return cls(
            new_id(),
            now_ms(),
            model_name,
            version,
            alias,
            previous_version,
            status,
            reason,
            {k: float(v) for k, v in (metrics or {}).items() if v == v},
            run_id,
            dict(lineage or {}),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Consumed:
    """One consumed message as every processor sees it, whatever client read it: what a
    dead letter must keep, and the transport's timestamp for latency."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter(Event):
    dead_letter_id: str
    event_time: int
    processor: str
    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    original_key: bytes | None
    original_value: bytes | None
    # the original sealed under a data key (riskstream.io.kafka.patient_keys)
    patient_ref: str | None = None
    original_key_id: str | None = None
    sealed_original: bytes | None = None
    source: str | None = None  # the clinic, read before sealing: the monitor's segment

    @classmethod
    def of(cls, item: Consumed, processor: str, reason: str, detail: str) -> DeadLetter:
        """The dead letter of one consumed message. ``detail`` must name fields only."""
        return cls(
            new_id(),
            now_ms(),
            processor,
            reason,
            detail,
            item.topic,
            item.partition,
            item.offset,
            item.key if isinstance(item.key, bytes) else None,
            item.value if isinstance(item.value, bytes) else None,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent(Event):
    """A person's action (on a version, or on an alert): who, when, what, and why."""

    audit_id: str
    event_time: int
    actor: str
    action: str  # approve, reject, promote, rollback, challenge, retrain, acknowledge, silence
    model_name: str
    version: str | None
    reason: str
    detail: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def record(
        cls,
        actor: str,
        action: str,
        model_name: str,
        version: str | None,
        reason: str,
        **detail: str,
    ) -> AuditEvent:
        return cls(new_id(), now_ms(), actor, action, model_name, version, reason, detail)


@dataclasses.dataclass(frozen=True, slots=True)
class PatientKey(Event):
    """A patient's wrapped data key in the compacted ``patient-keys`` topic, or (with
    ``forgotten``) the marker that the patient was forgotten at ``event_time``."""

    patient_ref: str
    key_id: str
    wrapped_key: bytes
    event_time: int
    forgotten: bool = False


EVENT_CLASSES: dict[str, type[Event]] = {
    cls.SCHEMA: cls
    for cls in (
        PatientRecord,
        Prediction,
        GroundTruth,
        LabeledExample,
        DriftAlert,
        RetrainRequest,
        ModelVersionEvent,
        DeadLetter,
        AuditEvent,
        PatientKey,
    )
}
