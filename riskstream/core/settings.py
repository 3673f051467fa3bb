"""Every setting riskstream reads, in one frozen, typed object.

This is the only module that reads the environment. Variables are named ``RISKSTREAM_*``;
``RISKSTREAM_KAFKA_<NAME>`` (other than ``RISKSTREAM_KAFKA_BOOTSTRAP``) passes straight through
to librdkafka as ``<name>`` with ``_`` → ``.`` (``RISKSTREAM_KAFKA_SASL_PASSWORD`` →
``sasl.password``), so any librdkafka option works without being wrapped here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from riskstream.core.slices import Slice

S = TypeVar("S", bound=Slice)
ENV_PREFIX = "RISKSTREAM_"
KAFKA_PASSTHROUGH_PREFIX = "RISKSTREAM_KAFKA_"
MASK = "**********"

# librdkafka options whose values are credentials: kept as SecretStr, masked in every printout.
_SECRET_MARKERS = ("password", "secret", "key.pem", "oauthbearer.config", "sasl.jaas")


def is_secret_option(name: str) -> bool:
    """Whether a librdkafka option carries a credential."""
    return any(marker in name for marker in _SECRET_MARKERS)


# The few librdkafka options whose names hold an underscore; every other "_" stands for ".".
_UNDERSCORED_OPTIONS = ("log_level",)


def _librdkafka_name(env_suffix: str) -> str:
    name = env_suffix.lower()
    return name if name in _UNDERSCORED_OPTIONS else name.replace("_", ".")


class _KafkaPassthroughSource(PydanticBaseSettingsSource):
    """Collects ``RISKSTREAM_KAFKA_*`` variables into the ``kafka_extra`` field."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        own = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
        extra = {
            _librdkafka_name(key[len(KAFKA_PASSTHROUGH_PREFIX) :]): value
            for key, value in os.environ.items()
            if key.upper().startswith(KAFKA_PASSTHROUGH_PREFIX) and key.upper() not in own
        }
        return {"kafka_extra": extra} if extra else {}


class Settings(BaseSettings):
    """riskstream's configuration. Immutable: derive a changed copy with ``model_copy``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_extra: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="librdkafka options from RISKSTREAM_KAFKA_* (security.protocol, sasl.*).",
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL; a password in it (redis://:pw@host) is used for AUTH.",
    )
    redis_cluster: bool = Field(
        False, description="RISKSTREAM_REDIS_URL names a node of a Redis Cluster."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: a sqlite file under the state dir."
    )
    schema_registry_url: str | None = Field(
        None, description="Confluent-compatible Schema Registry; default: the local catalog."
    )
    state_dir: Path = Field(Path(".riskstream"), description="Jars, broker data, pids, logs.")
    topic_prefix: str = Field("", description="Prefix of every topic and Redis key.")
    model_name: str = Field("diabetes-risk", description="Registered MLflow model name.")
    topic_partitions: int = Field(6, ge=1, description="Partitions of topics riskstream creates.")
    topic_replication: int | None = Field(
        None,
        ge=1,
        description="Replication factor of new topics; unset: the cluster's "
        "default.replication.factor (3 on `stack up --brokers 3`).",
    )
    stack_managed: bool | None = Field(
        None,
        description="Whether `stack up` runs Kafka/Redis here: unset = unless their address "
        "is configured; true = always, on the configured addresses; false = never.",
    )
    stack_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description="Kafka nodes `stack up` runs: 1, or a cluster (3 survives losing one).",
    )
    stack_controller_port: int = Field(
        9093, ge=1, le=65535, description="KRaft controller port of the local broker."
    )
    max_payload_bytes: int = Field(
        64 * 1024, ge=256, description="Larger record values go to dead-letter unparsed."
    )
    log_level: str = Field("INFO", description="Python log level of the workers.")

    # -- label joiner -------------------------------------------------------------------
    joiner_prediction_ttl_s: int = Field(
        7 * 24 * 3600, ge=1, description="How long a prediction waits in Redis for its label."
    )
    joiner_grace_s: float = Field(
        30.0, ge=0, description="How long a label whose prediction is not cached yet waits."
    )

    # -- drift monitor ------------------------------------------------------------------
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
    reference: str = Field(
        "recent",
        pattern="^(recent|training)$",
        description="A retrained version's drift reference: recent (the labeled traffic it was "
        "trained and validated on) or training (its whole training set).",
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

    # -- performance monitor ------------------------------------------------------------
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

    # -- operations ---------------------------------------------------------------------
    ops_host: str = Field("127.0.0.1", description="Address of the workers' /health, /metrics.")
    ops_port: int = Field(
        9400,
        ge=0,
        description="First port of the workers' ops endpoints (scorer; the others follow in "
        "`run all` order); 0 turns them off.",
    )

    # -- operator's console --------------------------------------------------------------
    ui_host: str = Field(
        "127.0.0.1",
        description="Address `riskstream ui` binds; any other than loopback needs UI_TOKEN.",
    )
    ui_port: int = Field(8420, ge=1, le=65535, description="Port of `riskstream ui`.")
    ui_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token every write to the console's API needs (approve, reject, "
        "roll back, retrain, acknowledge, silence); empty: the console is read-only.",
    )
    backtest_dir: Path | None = Field(
        None,
        description="Where `riskstream backtest` writes its reports and the console lists "
        "them (default: <state dir>/backtests).",
    )
    stack_prometheus: bool = Field(
        False,
        description="`riskstream stack up` also runs Debian's prometheus, scraping every "
        "worker's /metrics (as `stack up --with-prometheus`).",
    )
    prometheus_port: int = Field(
        9490, ge=1, le=65535, description="The local stack's Prometheus (--with-prometheus)."
    )

    # -- retrain trigger ----------------------------------------------------------------
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

    # -- notifications -----------------------------------------------------------------
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

    # -- champion and challenger ---------------------------------------------------------
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

    # -- models -------------------------------------------------------------------------
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

    # -- online learner ---------------------------------------------------------------
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _KafkaPassthroughSource(settings_cls))

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("topic_prefix may hold only letters, digits, '.', '_' and '-'")
        return value

    # -- derived values -------------------------------------------------------------------

    @property
    def kafka_is_external(self) -> bool:
        """True when the user named a Kafka cluster, so the local stack must not start one."""
        if self.stack_managed is not None:
            return not self.stack_managed
        return "kafka_bootstrap" in self.model_fields_set

    @property
    def redis_is_external(self) -> bool:
        """True when the user named a Redis server, so the local stack must not start one."""
        if self.stack_managed is not None:
            return not self.stack_managed
        return "redis_url" in self.model_fields_set

    @property
    def resolved_mlflow_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.state_dir / 'mlflow' / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return (self.state_dir / "mlflow" / "artifacts").resolve()

    @property
    def backtests(self) -> Path:
        """The folder of backtest reports (one sub-folder each)."""
        return self.backtest_dir or self.state_dir / "backtests"

    def slice(self, kind: type[S]) -> S:
        """The settings ``kind`` holds (:mod:`riskstream.core.slices`), under the same names."""
        return kind.model_validate({name: getattr(self, name) for name in kind.model_fields})

    def topic(self, name: str) -> str:
        """The full name of a catalog topic in this deployment."""
        return f"{self.topic_prefix}{name}"

    def redis_key(self, *parts: object) -> str:
        """A Redis key in this deployment's namespace."""
        head = f"{self.topic_prefix}riskstream"
        return ":".join([head, *(str(p) for p in parts)])

    def redis_slot_key(self, group: str, *parts: object) -> str:
        """A key of ``group``, whose keys one Lua script or transaction touches together: they
        share the hash tag ``{<prefix><group>}``, so a Redis Cluster keeps them in one slot
        (and each deployment's group in a slot of its own)."""
        return self.redis_key(f"{{{self.topic_prefix}{group}}}", *parts)

    def kafka_config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A librdkafka configuration dict: bootstrap, defaults, passthrough options, then
        overrides.

        No re-bootstrap by default (``metadata.recovery.strategy=none``): with librdkafka 2.16,
        re-bootstrapping after every broker went away decommissions the cached coordinators,
        and coordinator requests then hang for good, past their timeouts (librdkafka issues
        5511 and 5456): ``send_offsets_to_transaction`` in the scorer, the committed-offset
        fetch of a consumer that joined its group just before the outage in the monitor. The
        broker-restart fault test caught both. Without re-bootstrap the broker handles stay
        and reconnect to the same addresses; a deployment whose brokers change address sets
        RISKSTREAM_KAFKA_METADATA_RECOVERY_STRATEGY=rebootstrap.
        """
        config: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap,
            "metadata.recovery.strategy": "none",
            # librdkafka's own lines go through Python logging ("librdkafka"), not raw to
            # stderr as `%4|...|TERMINATE|...`: a command's console stays readable
            "logger": logging.getLogger("librdkafka"),
        }
        config.update({k: v.get_secret_value() for k, v in self.kafka_extra.items()})
        config.update(overrides or {})
        return config

    def worker_environment(self) -> dict[str, str]:
        """The ``RISKSTREAM_*`` variables that give a child process (a worker, the registry
        reader) exactly these settings: every field, from the object itself, so a setting
        added later reaches children without a list to keep (secrets included: for a child
        process's environment, never for a log). An unset optional field is left out; the
        child's default for it is the same None."""
        env = {
            f"{KAFKA_PASSTHROUGH_PREFIX}{name.replace('.', '_').upper()}": value.get_secret_value()
            for name, value in self.kafka_extra.items()
        }
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name != "kafka_extra" and value is not None:
                env[f"{ENV_PREFIX}{name.upper()}"] = _environment_text(value)
        return env

    def display(self) -> dict[str, str]:
        """Every setting as text, with credentials masked; safe to print and log."""
        extra = {
            f"kafka: {name}": MASK if is_secret_option(name) else value.get_secret_value()
            for name, value in sorted(self.kafka_extra.items())
        }
        return {
            "kafka_bootstrap": self.kafka_bootstrap,
            **extra,
            "redis_url": mask_url_password(self.redis_url.get_secret_value()),
            "mlflow_tracking_uri": mask_url_password(self.resolved_mlflow_uri),
            "schema_registry_url": mask_url_password(self.schema_registry_url or "(local catalog)"),
            "state_dir": str(self.state_dir),
            "topic_prefix": self.topic_prefix or "(none)",
            "model_name": self.model_name,
            "topic_partitions": str(self.topic_partitions),
        }


def _environment_text(value: object) -> str:
    """A setting as pydantic-settings reads it back from the environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def mask_url_password(url: str) -> str:
    """``redis://user:pw@host:6379/0`` → ``redis://user:**********@host:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; keyword overrides win over it."""
    return Settings(**overrides)
