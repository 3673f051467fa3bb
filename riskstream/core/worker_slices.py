"""The workers' own settings, and the slice each worker reads.

A part here (``MonitorSettings``, ``WebhookSettings``, ...) holds one worker's policy; a
worker's slice (``MonitoringSettings``, ``NotifierSettings``, ...) is that part on top of
:class:`~riskstream.core.slices.ClusterSettings`. ``Settings`` is made of every slice, so it
serves wherever one is asked for; the application hands a worker only its slice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from riskstream.core.slices import (
    ClusterSettings,
    ConsoleSettings,
    DeploymentSettings,
    KafkaSettings,
    RedisSettings,
    Slice,
    StackSettings,
)


class JoinerSettings(Slice):
    joiner_prediction_ttl_s: int = Field(
        7 * 24 * 3600, ge=1, description="How long a prediction waits in Redis for its label."
    )
    joiner_grace_s: float = Field(
        30.0, ge=0, description="How long a label whose prediction is not cached yet waits."
    )


class MonitorSettings(Slice):
    """The drift, quality and performance monitors' windows and thresholds."""

    monitor_window_s: int = Field(
        60, ge=1, description="Tumbling event-time window of the drift monitor, in seconds."
    )
    monitor_lateness_s: int = Field(
        30, ge=0, description="How long after its end a window waits for late records."
    )
    monitor_idle_s: float = Field(
        10.0,
        ge=0,
        description="A partition silent this long stops holding the monitors' event-time "
        "watermark back; once all are, the wall clock moves it (0: never).",
    )
    monitor_subwindows: int = Field(
        50,
        ge=0,
        le=60,
        description="Sub-windows per drift window: each feature's sequential test (CUSUM) "
        "judges them as they close, so an abrupt shift is called before its window closes "
        "(0: windows only).",
    )
    monitor_cpu_priority: Literal["idle", "low", "normal"] = Field(
        "idle",
        description="CPU priority of the drift and performance monitor processes (`riskstream "
        "run monitor`, `run performance`): `idle` runs them only on CPU nothing else wants "
        "(Linux SCHED_IDLE; elsewhere nice 19), so a burst of predictions never waits for "
        "them and they catch up after it; `low` is nice 10; `normal` leaves them as started.",
    )
    drift_psi_low: float = Field(0.10, gt=0, description="PSI at which a feature drifts (LOW).")
    drift_psi_high: float = Field(0.25, gt=0, description="PSI of a HIGH drift alert.")
    drift_alpha: float = Field(
        0.01, gt=0, lt=1, description="KS significance, divided by the number of features."
    )
    drift_min_sample: int = Field(200, ge=1, description="Smaller windows get no verdict.")
    quality_missing_rate: float = Field(
        0.05,
        gt=0,
        le=1,
        description="A feature missing in this much larger a share of a window's records than "
        "in the reference (and beyond chance) raises an alert.",
    )
    quality_dead_letter_rate: float = Field(
        0.05, gt=0, le=1, description="Share of inputs dead-lettered that raises an alert."
    )
    volume_drop: float = Field(
        0.5, gt=0, lt=1, description="A window below (1 - this) x the recent median is an alert."
    )
    volume_spike: float = Field(
        1.0, gt=0, description="A window above (1 + this) x the recent median is an alert."
    )
    segments_max: int = Field(
        10,
        ge=0,
        description="The busiest N sources (clinics) of a window are also monitored on their "
        "own; the rest together as `other`; 0 turns per-source segments off.",
    )
    performance_window_s: int = Field(
        300, ge=1, description="Tumbling window of labeled examples (by label time), seconds."
    )
    performance_lateness_s: int = Field(
        30, ge=0, description="How long after its end a performance window waits."
    )
    performance_min_sample: int = Field(
        100, ge=1, description="Performance windows with fewer labeled examples get no verdict."
    )
    performance_max_drop: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Relative drop below the version's validation metric that raises an alert.",
    )
    estimate_max_drop: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Relative drop of a metric estimated before labels (CBPE) below the "
        "version's validation value that raises a PERFORMANCE_ESTIMATE alert.",
    )
    estimate_reference_size: int = Field(
        2000,
        ge=100,
        description="Labeled examples of each version that calibrate its estimates (its "
        "reference period, as NannyML's CBPE has one); before that, served scores are used.",
    )
    performance_adwin_delta: float = Field(
        0.002, gt=0, lt=1, description="ADWIN confidence on the error stream (smaller: fewer cuts)."
    )


class TriggerSettings(Slice):
    trigger_min_severity: str = Field(
        "HIGH", description="Drift alerts at or above this severity request a retrain."
    )
    trigger_label_count: int = Field(
        1000, ge=1, description="New labeled examples that request a retrain on their own."
    )
    trigger_cooldown_s: float = Field(
        600.0,
        ge=0,
        description="After a request, further triggers wait this long (one incident, one request).",
    )
    trigger_on_estimate: bool = Field(
        False,
        description="PERFORMANCE_ESTIMATE alerts (before labels) request a retrain as well.",
    )
    trigger_on_segment: bool = Field(
        False,
        description="Alerts about one source segment (a clinic) request a retrain as well.",
    )
    trigger_schedule_s: float = Field(
        0.0, ge=0, description="Request a retrain at least this often (0: no schedule)."
    )


class WebhookSettings(Slice):
    webhook_urls: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated webhook URLs (Slack-compatible JSON) that the notifier "
        "sends alerts, promotions and rollbacks to; empty: no notifier. Secret: such URLs "
        "carry tokens.",
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="HMAC-SHA256 key of the X-Riskstream-Signature header; empty: unsigned.",
    )
    webhook_min_severity: str = Field(
        "MEDIUM", description="Alerts below this severity are not sent (RESOLVED ones follow)."
    )
    webhook_attempts: int = Field(
        5, ge=1, description="Tries per webhook and event before it goes to the dead letters."
    )
    webhook_backoff_s: float = Field(
        1.0, ge=0, description="Wait before the second try; doubled for each later one."
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="Per HTTP request, seconds.")

    @property
    def webhooks(self) -> list[str]:
        """The URLs of ``webhook_urls`` (secrets: never log them)."""
        return [u.strip() for u in self.webhook_urls.get_secret_value().split(",") if u.strip()]


class PromotionSettings(Slice):
    """How candidates are trained, judged and promoted, and how a new champion is watched."""

    shadow: bool = Field(
        True,
        description="The scorer also scores every record with the `challenger`, when there is "
        "one, and publishes that score on shadow-predictions.",
    )
    split: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of patients (a stable hash of the patient id) served by the "
        "challenger; the champion then scores them in shadow.",
    )
    promotion: Literal["auto", "manual"] = Field(
        "auto",
        description="manual: a version that would be promoted waits as the challenger until a "
        "person runs `riskstream model approve|reject VERSION --reason ...`.",
    )
    promotion_evidence: Literal["holdout", "live"] = Field(
        "holdout",
        description="holdout: a retrained version that passes the holdout gates is promoted; "
        "live: it becomes the challenger, promoted once paired tests on live labels show it "
        "better (rejected when worse, or after live_max_wait_s).",
    )
    live_min_labels: int = Field(
        200, ge=10, description="Paired labeled records before live evidence decides."
    )
    live_confidence: float = Field(
        0.95, gt=0.5, lt=1, description="Confidence of the live paired tests (DeLong, McNemar)."
    )
    live_max_wait_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="A challenger still undecided after this is rejected."
    )
    referee_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often live evidence is weighed (the trainer's referee of a challenger, "
        "the trainer's canary watch after a promotion).",
    )
    canary_windows: int = Field(
        3,
        ge=0,
        description="After a promotion the previous champion is scored in shadow and the new "
        "one watched for this many performance windows of paired labels; it is rolled back when "
        "the paired tests find the previous one better. 0: no watch.",
    )
    selection_metric: str = Field("roc_auc", description="CV metric that selects a candidate.")
    selection_rule: str = Field(
        "one_se", description="one_se: simplest within one standard error of the best; best."
    )
    gate_accuracy: float = Field(0.72, ge=0, le=1, description="Champion gate: accuracy.")
    gate_roc_auc: float = Field(0.80, ge=0, le=1, description="Champion gate: ROC-AUC.")
    gate_f1: float = Field(0.65, ge=0, le=1, description="Champion gate: F1.")
    promotion_margin: float = Field(
        0.005, ge=0, description="How much a candidate must beat the champion by to replace it."
    )
    retrain_min_examples: int = Field(
        100, ge=1, description="Fewer labeled examples in a retrain range: training is skipped."
    )
    retrain_label_wait_s: float = Field(
        60.0,
        ge=0,
        description="A retrain whose range holds too few labeled examples yet (labels lag "
        "their predictions; a joiner catching up lags more) waits this long for them before "
        "it is SKIPPED.",
    )
    retrain_max_examples: int = Field(
        50_000,
        ge=100,
        description="A retrain uses at most this many of the range's newest labeled examples "
        "(the trainer's memory is bounded by it, whatever the range).",
    )
    retrain_holdout_fraction: float = Field(
        0.3, gt=0, lt=1, description="Newest share of labeled examples kept to compare models."
    )
    retrain_search: Literal["background", "off", "first"] = Field(
        "background",
        description="A retrain refits the champion's family and hyperparameters on the new "
        "data in seconds, and registers that version; background: the full candidate search "
        "(families, grids, engineered features) then runs in its own process and registers "
        "what it finds, judged by the same rules; off: the refit alone; first: the full "
        "search instead of the refit (minutes on 2 cores).",
    )
    reference: str = Field(
        "recent",
        pattern="^(recent|training)$",
        description="A retrained version's drift reference: recent (the labeled traffic it was "
        "trained and validated on) or training (its whole training set).",
    )


class LearnerSettings(Slice):
    learner_snapshot_s: float = Field(
        600.0,
        gt=0,
        description="The online learner registers a snapshot this often, if it learned since.",
    )
    learner_snapshot_examples: int = Field(
        1_000_000,
        ge=1,
        description="... and at the latest after this many examples (what a crash relearns).",
    )
    learner_lr: float = Field(0.05, gt=0, description="The online model's SGD learning rate.")
    learner_l2: float = Field(0.0, ge=0, description="The online model's L2 penalty.")
    run_learner: bool = Field(
        False, description="`riskstream run all` runs the online learner too."
    )


class LabelJoinerSettings(ClusterSettings, JoinerSettings):
    """What the label joiner reads."""


class ChampionSettings(ClusterSettings, PromotionSettings):
    """What the workers that serve or register versions read: the scorer, the model follower,
    the model registry."""


class MonitoringSettings(ChampionSettings, MonitorSettings):
    """What the workers that watch and judge versions read: the drift and performance
    monitors, the estimates, the trainer with its referee and canary (the promotion gates set
    what a performance drop is; the monitors' windows set what a trainer's evidence is)."""


class RetrainTriggerSettings(ClusterSettings, TriggerSettings):
    """What the retrain trigger reads."""


class NotifierSettings(ClusterSettings, WebhookSettings):
    """What the notifier reads."""


class OnlineLearnerSettings(ChampionSettings, LearnerSettings):
    """What the online learner reads (it registers its snapshots as versions)."""


PARTS: tuple[type[Slice], ...] = (
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
WORKER_SLICES: tuple[type[ClusterSettings], ...] = (
    LabelJoinerSettings,
    MonitoringSettings,
    RetrainTriggerSettings,
    NotifierSettings,
    ChampionSettings,
    OnlineLearnerSettings,
)
