"""The settings in slices: each part of riskstream takes the slice it needs.

``Settings`` (:mod:`riskstream.core.settings`) stays the one place that reads the
``RISKSTREAM_*`` environment, with its flat names; a slice is a frozen, typed view of some of
its fields under the same names, made with ``settings.slice(MonitorSettings)``. A function
that needs only the monitors' thresholds then says so in its signature, and cannot read a
webhook secret. Every setting belongs to exactly one slice
(``tests/unit/riskstream/core/test_slices.py`` fails for one that was left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr


class Slice(BaseModel):
    """A frozen view of some settings, under their flat names."""

    model_config = ConfigDict(frozen=True)


class DeploymentSettings(Slice):
    """What names a deployment and where it keeps its state."""

    topic_prefix: str
    model_name: str
    state_dir: Path
    mlflow_tracking_uri: str | None
    log_level: str
    ops_host: str
    ops_port: int | None


class KafkaSettings(Slice):
    """How to reach Kafka (connection apart from the workers' tuning)."""

    kafka_bootstrap: str
    kafka_extra: dict[str, SecretStr]
    schema_registry_url: str | None
    topic_partitions: int
    topic_replication: int | None
    max_payload_bytes: int


class RedisSettings(Slice):
    redis_url: SecretStr
    redis_cluster: bool


class StackSettings(Slice):
    """What `riskstream stack up` runs on this machine."""

    stack_managed: bool | None
    stack_brokers: int
    stack_controller_port: int
    stack_prometheus: bool
    prometheus_port: int


class ConsoleSettings(Slice):
    ui_host: str
    ui_port: int
    ui_token: SecretStr
    backtest_dir: Path | None


class JoinerSettings(Slice):
    joiner_prediction_ttl_s: int
    joiner_grace_s: float


class MonitorSettings(Slice):
    """The drift, quality and performance monitors' windows and thresholds."""

    monitor_window_s: int
    monitor_lateness_s: int
    monitor_idle_s: float
    drift_psi_low: float
    drift_psi_high: float
    drift_alpha: float
    drift_min_sample: int
    quality_missing_rate: float
    quality_dead_letter_rate: float
    volume_drop: float
    volume_spike: float
    segments_max: int
    performance_window_s: int
    performance_lateness_s: int
    performance_min_sample: int
    performance_max_drop: float
    estimate_max_drop: float
    estimate_reference_size: int
    performance_adwin_delta: float


class TriggerSettings(Slice):
    trigger_min_severity: str
    trigger_label_count: int
    trigger_cooldown_s: float
    trigger_on_estimate: bool
    trigger_on_segment: bool
    trigger_schedule_s: float


class WebhookSettings(Slice):
    webhook_urls: SecretStr
    webhook_secret: SecretStr
    webhook_min_severity: str
    webhook_attempts: int
    webhook_backoff_s: float
    webhook_timeout_s: float

    @property
    def webhooks(self) -> list[str]:
        """The URLs of ``webhook_urls`` (secrets: never log them)."""
        return [u.strip() for u in self.webhook_urls.get_secret_value().split(",") if u.strip()]


class PromotionSettings(Slice):
    """How candidates are trained, judged and promoted, and how a new champion is watched."""

    shadow: bool
    split: float
    promotion: Literal["auto", "manual"]
    promotion_evidence: Literal["holdout", "live"]
    live_min_labels: int
    live_confidence: float
    live_max_wait_s: float
    referee_interval_s: float
    canary_windows: int
    selection_metric: str
    selection_rule: str
    gate_accuracy: float
    gate_roc_auc: float
    gate_f1: float
    promotion_margin: float
    retrain_min_examples: int
    retrain_max_examples: int
    retrain_holdout_fraction: float
    retrain_search: Literal["background", "off", "first"]
    reference: str


class LearnerSettings(Slice):
    learner_snapshot_s: float
    learner_snapshot_examples: int
    learner_lr: float
    learner_l2: float
    run_learner: bool


SLICES: tuple[type[Slice], ...] = (
    DeploymentSettings,
    KafkaSettings,
    RedisSettings,
    StackSettings,
    ConsoleSettings,
    JoinerSettings,
    MonitorSettings,
    TriggerSettings,
    WebhookSettings,
    PromotionSettings,
    LearnerSettings,
)
