"""Watching the drift-alert and performance-window topics: which alerts are active, the
latest performance of each version (estimated before labels, realized after), and waiting
for an alert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import DRIFT_ALERTS, PERFORMANCE_WINDOWS
from riskstream.io.kafka.reading import Start, read_events
from riskstream.schemas.events import AlertStatus, DriftAlert, PerformanceWindow, Severity


def alert_key(alert: DriftAlert) -> tuple[str, str, str, str, str]:
    """What a RESOLVED alert resolves: the same kind, subject and statistic of a version, in
    the same segment."""
    return (
        alert.model_version,
        alert.kind,
        alert.feature or "",
        alert.statistic,
        alert.segment or "",
    )


@dataclass
class ActiveAlerts:
    """FIRING alerts not yet RESOLVED, at or above ``min_severity``."""

    min_severity: str = "LOW"
    active: dict[tuple[str, str, str, str, str], DriftAlert] = field(default_factory=dict)

    def admits(self, alert: DriftAlert) -> bool:
        return alert.severity.rank >= Severity(self.min_severity).rank

    def apply(self, alert: DriftAlert) -> None:
        key = alert_key(alert)
        if alert.status == AlertStatus.RESOLVED:
            self.active.pop(key, None)
        elif self.admits(alert):
            self.active[key] = alert


def read_alerts(
    settings: ClusterSettings,
    start: Start = "end",
    follow: bool = True,
    skipped: Counter[str] | None = None,
) -> Iterator[DriftAlert]:
    topic = settings.topic(DRIFT_ALERTS.name)
    yield from read_events(settings, topic, DriftAlert, start, follow=follow, skipped=skipped)


@dataclass
class LatestPerformance:
    """The latest ESTIMATED and REALIZED window of each (version, segment), and of each
    version's shadow scores (basis ``SHADOW``)."""

    latest: dict[tuple[str, str, str], PerformanceWindow] = field(default_factory=dict)

    def apply(self, window: PerformanceWindow) -> None:
        basis = "SHADOW" if window.variant == "shadow" else window.basis
        key = (window.model_version, window.segment or "all", basis)
        held = self.latest.get(key)
        if held is None or window.window_start >= held.window_start:
            self.latest[key] = window


def read_performance(
    settings: ClusterSettings,
    start: Start = "end",
    follow: bool = True,
    skipped: Counter[str] | None = None,
) -> Iterator[PerformanceWindow]:
    topic = settings.topic(PERFORMANCE_WINDOWS.name)
    read = read_events(settings, topic, PerformanceWindow, start, follow=follow, skipped=skipped)
    yield from read
