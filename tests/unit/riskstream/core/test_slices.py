"""Every setting is in exactly one slice, and a slice holds the values of the settings."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from pydantic import SecretStr, ValidationError

from riskstream.core.settings import Settings
from riskstream.core.slices import ClusterSettings, Slice
from riskstream.core.worker_slices import (
    PARTS,
    WORKER_SLICES,
    MonitorSettings,
    NotifierSettings,
    TriggerSettings,
    WebhookSettings,
)


def test_every_setting_is_in_exactly_one_slice() -> None:
    placed = Counter(name for kind in PARTS for name in kind.model_fields)
    assert {n for n, times in placed.items() if times > 1} == set()
    assert set(Settings.model_fields) - set(placed) == set(), "a setting in no slice"
    assert set(placed) - set(Settings.model_fields) == set(), "a slice field is no setting"


def test_a_slice_holds_the_settings_values_and_is_frozen() -> None:
    settings = Settings(monitor_window_s=30, drift_psi_low=0.2, webhook_urls=SecretStr("a, b"))
    monitor = settings.slice(MonitorSettings)
    assert (monitor.monitor_window_s, monitor.drift_psi_low) == (30, 0.2)
    assert settings.slice(WebhookSettings).webhooks == ["a", "b"]
    with pytest.raises(ValidationError, match="frozen"):
        monitor.monitor_window_s = 5  # type: ignore[misc]


def test_a_slice_follows_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKSTREAM_TRIGGER_COOLDOWN_S", "42")
    assert Settings().slice(TriggerSettings).trigger_cooldown_s == 42


@pytest.mark.parametrize("kind", WORKER_SLICES, ids=lambda k: k.__name__)
def test_the_settings_serve_each_workers_slice_with_only_its_fields(kind: type[Slice]) -> None:
    settings = Settings(topic_prefix="t.", redis_url=SecretStr("redis://:pw@r:1/0"))
    assert isinstance(settings, kind)  # so a function that asks for the slice takes them
    piece = settings.slice(kind)
    assert type(piece) is kind
    assert set(ClusterSettings.model_fields) <= set(kind.model_fields) < set(Settings.model_fields)
    assert piece.model_dump() == {name: getattr(settings, name) for name in kind.model_fields}


def test_a_worker_slice_holds_nothing_of_another_workers_part() -> None:
    notifier = Settings().slice(NotifierSettings)
    assert not hasattr(notifier, "trigger_cooldown_s")
    assert not hasattr(notifier, "ui_token")
    assert hasattr(notifier, "webhook_secret") and hasattr(notifier, "kafka_bootstrap")


def test_a_slices_environment_gives_a_child_the_same_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's child process (the registry reader's) is started from the worker's slice:
    its environment brings every field of the slice back, secrets and librdkafka options
    included, and nothing of the other parts."""
    for key in [k for k in os.environ if k.startswith("RISKSTREAM_")]:
        monkeypatch.delenv(key)
    changed = Settings(
        webhook_urls=SecretStr("http://hook"),
        webhook_attempts=9,
        topic_prefix="p-",
        kafka_extra={"sasl.password": SecretStr("s3cret")},
        trigger_cooldown_s=7.0,
    ).slice(NotifierSettings)
    env = changed.worker_environment()
    assert "RISKSTREAM_TRIGGER_COOLDOWN_S" not in env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings().slice(NotifierSettings) == changed
