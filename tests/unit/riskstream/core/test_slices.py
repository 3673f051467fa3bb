"""Every setting is in exactly one slice, and a slice holds the values of the settings."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import SecretStr, ValidationError

from riskstream.core.settings import Settings
from riskstream.core.slices import SLICES, MonitorSettings, TriggerSettings, WebhookSettings


def test_every_setting_is_in_exactly_one_slice() -> None:
    placed = Counter(name for kind in SLICES for name in kind.model_fields)
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
