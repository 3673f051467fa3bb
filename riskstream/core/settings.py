"""Every setting riskstream reads, in one frozen, typed object.

This is the only module that reads the environment. Variables are named ``RISKSTREAM_*``;
``RISKSTREAM_KAFKA_<NAME>`` (other than ``RISKSTREAM_KAFKA_BOOTSTRAP``) passes straight through
to librdkafka as ``<name>`` with ``_`` → ``.`` (``RISKSTREAM_KAFKA_SASL_PASSWORD`` →
``sasl.password``), so any librdkafka option works without being wrapped here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from riskstream.core.slices import (
    ENV_PREFIX,
    KAFKA_PASSTHROUGH_PREFIX,
    ConsoleSettings,
    LocalStackSettings,
    is_secret_option,
)
from riskstream.core.worker_slices import (
    LabelJoinerSettings,
    MonitoringSettings,
    NotifierSettings,
    OnlineLearnerSettings,
    RetrainTriggerSettings,
)

MASK = "**********"

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


class Settings(
    BaseSettings,
    MonitoringSettings,
    OnlineLearnerSettings,
    LabelJoinerSettings,
    RetrainTriggerSettings,
    NotifierSettings,
    LocalStackSettings,
    ConsoleSettings,
):
    """riskstream's configuration: every slice, read from the environment. Immutable: derive
    a changed copy with ``model_copy``. The fields are defined in their parts
    (:mod:`riskstream.core.slices`, :mod:`riskstream.core.worker_slices`)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

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
    def backtests(self) -> Path:
        """The folder of backtest reports (one sub-folder each)."""
        return self.backtest_dir or self.state_dir / "backtests"

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
