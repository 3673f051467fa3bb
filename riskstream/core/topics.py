"""The topic catalog: every topic's name, key, value schema, partitioning and retention.

Code and docs both read this table (``riskstream topics list`` prints it). Names here are
logical; :meth:`riskstream.core.settings.Settings.topic` adds the deployment's prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from riskstream.core.errors import ConfigError
from riskstream.schemas.events import (
    AuditEvent,
    DeadLetter,
    DriftAlert,
    Event,
    GroundTruth,
    LabeledExample,
    ModelVersionEvent,
    PatientKey,
    PatientRecord,
    PerformanceWindow,
    Prediction,
    RetrainRequest,
)

E = TypeVar("E", bound=Event)
DAY_MS = 24 * 3600 * 1000
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TopicSpec(Generic[E]):
    """One topic of the data flow, typed by the event it carries: a worker's output names
    its topic's spec, so writing another event to it fails the type check."""

    name: str
    key: str
    event: type[E]
    doc: str
    retention_ms: int = 7 * DAY_MS
    cleanup_policy: str = "delete"
    partitions: int | None = None  # None: the deployment's RISKSTREAM_TOPIC_PARTITIONS
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def value_schema(self) -> str:
        """The Avro schema of the topic's values (the event class's name)."""
        return self.event.__name__

    def config(self, retention_ms: int | None = None) -> dict[str, str]:
        """Topic-level broker configuration (``retention_ms`` over the catalog's)."""
        config = {"cleanup.policy": self.cleanup_policy, **self.extra_config}
        if self.cleanup_policy == "delete":
            config["retention.ms"] = str(retention_ms or self.retention_ms)
        return config


def retention_ms(entry: TopicSpec[Any], days: Mapping[str, float]) -> int:
    """A topic's retention: ``days`` (RISKSTREAM_TOPIC_RETENTION_DAYS) over the catalog's."""
    return round(days[entry.name] * DAY_MS) if entry.name in days else entry.retention_ms


def check_retention_days(days: Mapping[str, float]) -> None:
    """Refuse a RISKSTREAM_TOPIC_RETENTION_DAYS that names a topic without a retention (not
    in the catalog, or compacted): a typo would otherwise leave patient data kept for the
    default time, silently."""
    deletable = sorted(t.name for t in CATALOG if t.cleanup_policy == "delete")
    unknown = sorted(set(days) - set(deletable))
    if unknown:
        raise ConfigError(
            "RISKSTREAM_TOPIC_RETENTION_DAYS names a topic without a retention",
            topics=",".join(unknown),
            hint=f"name only these: {', '.join(deletable)}",
        )


PATIENT_RECORDS = TopicSpec(
    "patient-records",
    "patient_id",
    PatientRecord,
    "Clinics publish records here; the scorer consumes it.",
    retention_ms=30 * DAY_MS,
)
PREDICTIONS = TopicSpec(
    "predictions",
    "patient_ref",
    Prediction,
    "One prediction per valid record; users, the joiner and the monitor consume it.",
    # patient data under a short retention: as long as the joiner keeps a prediction waiting
    # for its label (RISKSTREAM_JOINER_PREDICTION_TTL_S, 7 days), no longer
    retention_ms=7 * DAY_MS,
)
SHADOW_PREDICTIONS = TopicSpec(
    "shadow-predictions",
    "patient_ref",
    Prediction,
    "The unserved variant's score of each record that a challenger exists for (shadow=true).",
    retention_ms=7 * DAY_MS,
)
GROUND_TRUTH = TopicSpec(
    "ground-truth",
    "patient_id",
    GroundTruth,
    "Observed outcomes, arriving later than their records.",
    retention_ms=90 * DAY_MS,
)
LABELED_EXAMPLES = TopicSpec(
    "labeled-examples",
    "patient_ref",
    LabeledExample,
    "Predictions joined to outcomes: performance monitoring and retraining data.",
    retention_ms=365 * DAY_MS,
)
DRIFT_ALERTS = TopicSpec(
    "drift-alerts",
    "feature or metric",
    DriftAlert,
    "Drift, data-quality and performance alerts; `riskstream watch` follows it.",
    retention_ms=90 * DAY_MS,
)
RETRAIN_REQUESTS = TopicSpec(
    "retrain-requests",
    "model_name",
    RetrainRequest,
    "The trigger asks the trainer for a new candidate.",
    retention_ms=30 * DAY_MS,
    partitions=1,
)
MODEL_VERSIONS = TopicSpec(
    "model-versions",
    "model_name",
    ModelVersionEvent,
    "Registry changes; scorers swap champions on it. Compacted: the last event per model stays.",
    cleanup_policy="compact",
    partitions=1,
    extra_config={"min.compaction.lag.ms": str(3600 * 1000)},
)
DEAD_LETTER = TopicSpec(
    "dead-letter",
    "original key",
    DeadLetter,
    "Inputs no processor could use, with original bytes, source offsets and a reason.",
    retention_ms=90 * DAY_MS,
    # Room for an oversized input (up to the broker's 1 MB default) plus its envelope.
    extra_config={"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)},
)
PERFORMANCE_WINDOWS = TopicSpec(
    "performance-windows",
    "model_version",
    PerformanceWindow,
    "Each closed window's performance: estimated before labels, realized after, and the error.",
    retention_ms=90 * DAY_MS,
)
AUDIT = TopicSpec(
    "audit",
    "model_name",
    AuditEvent,
    "Who approved, rejected, promoted, rolled back or challenged a version, requested a "
    "retrain, or acknowledged or silenced an alert; when and why.",
    retention_ms=3 * 365 * DAY_MS,
    partitions=1,
)

PATIENT_KEYS = TopicSpec(
    "patient-keys",
    "<patient_ref>:<key_id>",
    PatientKey,
    "Each patient's data key, wrapped by the key-encryption key; `riskstream forget` writes "
    "tombstones. Compacted, and cleaned within about two days of a tombstone.",
    cleanup_policy="compact",
    partitions=1,
    # the log cleaner only compacts closed segments, and only once they are "dirty" enough:
    # a day-long segment and a one-day maximum lag make a destroyed key physically gone
    # within about two days, however few patients were forgotten
    extra_config={"segment.ms": str(DAY_MS), "max.compaction.lag.ms": str(DAY_MS)},
)

CATALOG: tuple[TopicSpec[Any], ...] = (
    PATIENT_RECORDS,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
    GROUND_TRUTH,
    LABELED_EXAMPLES,
    DRIFT_ALERTS,
    RETRAIN_REQUESTS,
    MODEL_VERSIONS,
    DEAD_LETTER,
    PERFORMANCE_WINDOWS,
    AUDIT,
    PATIENT_KEYS,
)


def spec(name: str) -> TopicSpec[Any]:
    """The catalog entry of a logical topic name."""
    for entry in CATALOG:
        if entry.name == name:
            return entry
    raise KeyError(f"{name!r} is not in the topic catalog")
