"""The settings in slices: each part of riskstream takes the slice it needs.

Every setting is defined here, in exactly one part (``DeploymentSettings``, ``KafkaSettings``,
``MonitorSettings``, ...); each worker reads a slice made of the parts it needs
(``ScorerSettings``, ``NotifierSettings``, ...), so a function that needs only the monitors'
thresholds says so in its signature and cannot read a webhook secret (mypy holds it to that).
``Settings`` (:mod:`riskstream.core.settings`) is made of every slice and stays the one place
that reads the ``RISKSTREAM_*`` environment, under the same flat names; the application hands
a worker ``settings.slice(ScorerSettings)``. ``tests/unit/riskstream/core/test_slices.py``
fails for a setting in no part, or in two.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

ENV_PREFIX = "RISKSTREAM_"
KAFKA_PASSTHROUGH_PREFIX = "RISKSTREAM_KAFKA_"
S = TypeVar("S", bound="Slice")

# librdkafka options whose values are credentials: kept as SecretStr, masked in every printout.
_SECRET_MARKERS = ("password", "secret", "key.pem", "oauthbearer.config", "sasl.jaas")


def is_secret_option(name: str) -> bool:
    """Whether a librdkafka option carries a credential."""
    return any(marker in name for marker in _SECRET_MARKERS)


class Slice(BaseModel):
    """A frozen view of some settings, under their flat names."""

    model_config = ConfigDict(frozen=True)

    def slice(self, kind: type[S]) -> S:
        """The settings ``kind`` holds, under the same names (all of them must be here)."""
        return kind.model_validate({name: getattr(self, name) for name in kind.model_fields})

    def worker_environment(self) -> dict[str, str]:
        """The ``RISKSTREAM_*`` variables that give a child process (a worker, the registry
        reader) exactly these settings: every field, from the object itself, so a setting
        added later reaches children without a list to keep (secrets included: for a child
        process's environment, never for a log). An unset optional field is left out; the
        child's default for it is the same None."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "kafka_extra":
                env.update(
                    (
                        f"{KAFKA_PASSTHROUGH_PREFIX}{k.replace('.', '_').upper()}",
                        v.get_secret_value(),
                    )
                    for k, v in value.items()
                )
            elif value is not None:
                env[f"{ENV_PREFIX}{name.upper()}"] = _environment_text(value)
        return env


def _environment_text(value: object) -> str:
    """A setting as pydantic-settings reads it back from the environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)


class DeploymentSettings(Slice):
    """What names a deployment and where it keeps its state."""

    topic_prefix: str = Field("", description="Prefix of every topic and Redis key.")
    model_name: str = Field("diabetes-risk", description="Registered MLflow model name.")
    state_dir: Path = Field(Path(".riskstream"), description="Jars, broker data, pids, logs.")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: a sqlite file under the state dir."
    )
    log_level: str = Field("INFO", description="Python log level of the workers.")
    ops_host: str = Field("127.0.0.1", description="Address of the workers' /health, /metrics.")
    ops_port: int = Field(
        9400,
        ge=0,
        description="First port of the workers' ops endpoints (scorer; the others follow in "
        "`run all` order); 0 turns them off.",
    )

    pseudonym_key: SecretStr = Field(
        SecretStr(""),
        description="Secret of the patient references written downstream in place of patient "
        "ids (HMAC-SHA256); required unless the broker is on this machine, where the local "
        "stack keeps a random one under the state dir.",
    )
    pseudonym_previous_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated keys rotated out; `riskstream predictions --patient` "
        "still finds the references written under them.",
    )
    key_encryption_key: SecretStr = Field(
        SecretStr(""),
        description="Secret that wraps each patient's data key in the `patient-keys` topic "
        "(feature values at rest are sealed under the data keys); required unless the broker "
        "is on this machine, where the local stack keeps a random one under the state dir.",
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("topic_prefix may hold only letters, digits, '.', '_' and '-'")
        return value

    @property
    def resolved_mlflow_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.state_dir / 'mlflow' / 'mlflow.db').resolve()}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return (self.state_dir / "mlflow" / "artifacts").resolve()

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


class KafkaSettings(Slice):
    """How to reach Kafka (connection apart from the workers' tuning)."""

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_extra: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="librdkafka options from RISKSTREAM_KAFKA_* (security.protocol, sasl.*).",
    )
    schema_registry_url: str | None = Field(
        None, description="Confluent-compatible Schema Registry; default: the local catalog."
    )
    topic_partitions: int = Field(6, ge=1, description="Partitions of topics riskstream creates.")
    topic_replication: int | None = Field(
        None,
        ge=1,
        description="Replication factor of new topics; unset: the cluster's "
        "default.replication.factor (3 on `stack up --brokers 3`).",
    )
    max_payload_bytes: int = Field(
        64 * 1024, ge=256, description="Larger record values go to dead-letter unparsed."
    )
    topic_retention_days: dict[str, float] = Field(
        default_factory=dict,
        description="Retention in days per catalog topic, over the catalog's defaults, as "
        'JSON (e.g. {"labeled-examples": 180}); applied when topics are created and to '
        "existing ones (`riskstream topics create`, every worker's start).",
    )

    @field_validator("topic_retention_days")
    @classmethod
    def _positive_retention(cls, value: dict[str, float]) -> dict[str, float]:
        """Positive days; which topics may be named, ``topics.retention_days`` checks."""
        for name, days in value.items():
            if not days > 0:
                raise ValueError(f"the retention of {name!r} must be a positive number of days")
        return value

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


class RedisSettings(Slice):
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL; a password in it (redis://:pw@host) is used for AUTH.",
    )
    redis_cluster: bool = Field(
        False, description="RISKSTREAM_REDIS_URL names a node of a Redis Cluster."
    )


class StackSettings(Slice):
    """What `riskstream stack up` runs on this machine."""

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
    stack_prometheus: bool = Field(
        False,
        description="`riskstream stack up` also runs Debian's prometheus, scraping every "
        "worker's /metrics (as `stack up --with-prometheus`).",
    )
    prometheus_port: int = Field(
        9490, ge=1, le=65535, description="The local stack's Prometheus (--with-prometheus)."
    )


class ConsoleSettings(Slice):
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


class ClusterSettings(DeploymentSettings, KafkaSettings, RedisSettings):
    """Where a deployment lives: its names, its Kafka and its Redis; every worker reads these."""


class LocalStackSettings(ClusterSettings, StackSettings):
    """What the local stack's broker, Redis and Prometheus read."""
