"""Watching the drift-alert and performance-window topics: which alerts are active, the
latest performance of each version (estimated before labels, realized after), and waiting
for an alert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS, PERFORMANCE_WINDOWS
from riskstream.io.kafka.reading import Start, decoded
from riskstream.schemas.events import Severity


def alert_key(alert: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """What a RESOLVED alert resolves: the same kind, subject and statistic of a version, in
    the same segment."""
    return (
        alert["model_version"],
        alert["kind"],
        alert["feature"] or "",
        alert["statistic"],
        alert.get("segment") or "",
    )


@dataclass
class ActiveAlerts:
    """FIRING alerts not yet RESOLVED, at or above ``min_severity``."""

    min_severity: str = "LOW"
    active: dict[tuple[str, str, str, str, str], dict[str, Any]] = field(default_factory=dict)

    def admits(self, alert: dict[str, Any]) -> bool:
        return Severity(alert["severity"]).rank >= Severity(self.min_severity).rank

    def apply(self, alert: dict[str, Any]) -> None:
        key = alert_key(alert)
        if alert["status"] == "RESOLVED":
            self.active.pop(key, None)
        elif self.admits(alert):
            self.active[key] = alert


def read_alerts(
    settings: Settings,
    start: Start = "end",
    follow: bool = True,
    skipped: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    topic = settings.topic(DRIFT_ALERTS.name)
    yield from decoded(settings, topic, "DriftAlert", start, follow=follow, skipped=skipped)


@dataclass
class LatestPerformance:
    """The latest ESTIMATED and REALIZED window of each (version, segment), and of each
    version's shadow scores (basis ``SHADOW``)."""

    latest: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def apply(self, record: dict[str, Any]) -> None:
        basis = "SHADOW" if record.get("variant") == "shadow" else record["basis"]
        key = (record["model_version"], record.get("segment") or "all", basis)
        held = self.latest.get(key)
        if held is None or record["window_start"] >= held["window_start"]:
            self.latest[key] = record


def read_performance(
    settings: Settings,
    start: Start = "end",
    follow: bool = True,
    skipped: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    topic = settings.topic(PERFORMANCE_WINDOWS.name)
    yield from decoded(settings, topic, "PerformanceWindow", start, follow=follow, skipped=skipped)
