"""The drift monitor's sequential test, live: each feature's (and the score's) CUSUM
(``models/monitoring/sequential.py``) advanced one sub-window at a time as the shared
watermark passes it, so an abrupt shift is called before its window closes.

The counts are the window's own (``q<k>:`` fields, counted with the window's exactly-once
rule); the CUSUM state and the next sub-window to judge live in one Redis hash per version,
and one worker at a time advances it (a short lock), in event-time order. The state depends
only on the counts, so two workers, or a worker restarted mid-stream, reach the verdicts one
worker would. An alarm enters the alerting state every window verdict shares: a FIRING alert
now, which the window's verdict at close keeps or escalates (``hold_resolutions``), and a
later window's verdict resolves (hysteresis as ever).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models.monitoring.alerts import sequential_alert, transition, trend_alert
from riskstream.models.monitoring.sequential import (
    CHANGE,
    DEFAULT,
    CusumState,
    PitReference,
    SequentialThresholds,
    Side,
    SubjectState,
    SubjectStep,
    subject_step,
)
from riskstream.models.monitoring.statistics import DriftThresholds
from riskstream.models.monitoring.trend import TrendState
from riskstream.models.monitoring.windows import (
    SCORE_SUBJECT,
    SubWindows,
    pit_counts,
    window_start,
)
from riskstream.models.reference import DriftReference
from riskstream.schemas.events import AlertKind, AlertStatus, DriftAlert, Severity
from riskstream.stream_processors.window_store import WindowStore

log = logging.getLogger(__name__)
LOCK_MS = 10_000  # a worker that dies holding the lock holds it this long at most
MAX_WINDOWS_PER_TICK = 50  # windows one advance reads: a day's gap is crossed in a minute


class Alarm(NamedTuple):
    """A sub-window whose test raised an alarm on ``subject`` (a feature, or the score)."""

    version: str
    subject: str
    found: SubjectStep  # a CUSUM's alarm (``alarm``, against ``baseline`` or the
    # reference) or the trend test's (``trend``)
    start: int  # the sub-window's bounds, event-time ms
    end: int
    ahead: bool  # its window was still open: an alert now is ahead of the window's verdict


def subjects(reference: DriftReference) -> dict[str, PitReference]:
    """The PIT reference of each feature and of the score (``SCORE_SUBJECT``)."""
    histograms = {name: h["counts"] for name, h in reference["features"].items()}
    histograms[SCORE_SUBJECT] = reference["score"]["counts"]
    found = {name: PitReference.of(counts) for name, counts in histograms.items()}
    return {name: pit for name, pit in found.items() if pit is not None}


def _decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _load_cusum(fields: dict[str, str], name: str) -> CusumState:
    def side(prefix: str) -> Side:
        return Side(
            float(fields.get(f"{name}:{prefix}", 0.0)),
            int(fields.get(f"{name}:{prefix}_n", 0)),
            int(fields.get(f"{name}:{prefix}_u", 0)),
        )

    return CusumState(side("up"), side("down"), fields.get(f"{name}:alarmed") == "1")


def _dump_cusum(name: str, state: CusumState) -> dict[str | bytes, str]:
    out: dict[str | bytes, str] = {f"{name}:alarmed": "1" if state.alarmed else "0"}
    for prefix, side in (("up", state.up), ("down", state.down)):
        out |= {
            f"{name}:{prefix}": repr(side.value),
            f"{name}:{prefix}_n": str(side.run_n),
            f"{name}:{prefix}_u": str(side.run_pit),
        }
    return out


def _load(fields: dict[str, str], subject: str) -> SubjectState:
    """A subject's state: the reference test's fields under ``<subject>:``, the baseline's
    sums and the change test's fields under ``<subject>~base:``, the trend test's in
    ``<subject>~trend``."""
    return SubjectState(
        _load_cusum(fields, subject),
        int(fields.get(f"{subject}~base:n", 0)),
        int(fields.get(f"{subject}~base:u", 0)),
        _load_cusum(fields, f"{subject}~base"),
        TrendState.decode(fields.get(f"{subject}~trend", "")),
    )


def _dump(subject: str, state: SubjectState) -> dict[str | bytes, str]:
    return (
        _dump_cusum(subject, state.reference)
        | _dump_cusum(f"{subject}~base", state.change)
        | {f"{subject}~base:n": str(state.baseline_n), f"{subject}~base:u": str(state.baseline_pit)}
        | {f"{subject}~trend": state.trend.encode()}
    )


class SequentialWatch:
    def __init__(
        self,
        settings: MonitoringSettings,
        store: WindowStore,
        bands: DriftThresholds,
        thresholds: SequentialThresholds = DEFAULT,
        change: SequentialThresholds = CHANGE,
    ) -> None:
        self.store = store
        self.bands = bands
        self.thresholds = thresholds
        self.change = change
        self.size_ms = settings.monitor_window_s * 1000
        self.lateness_ms = settings.monitor_lateness_s * 1000
        count = settings.monitor_subwindows
        self.sub_ms = -(-self.size_ms // count) if count else 0

    def subwindows_of(self, start: int) -> SubWindows | None:
        """How the window at ``start`` is cut for the test (None: the test is off)."""
        return SubWindows(start, self.sub_ms) if self.sub_ms else None

    def _state_key(self, version: str) -> str:
        return self.store.window_key(version, -1) + ":sequential"

    def advance(
        self,
        versions: Iterable[str],
        watermark: int,
        reference_of: Callable[[str], DriftReference | None],
    ) -> list[Alarm]:
        """Judge every sub-window of ``versions`` that the watermark has passed by the
        lateness, in order; the alarms raised."""
        if not self.sub_ms:
            return []
        alarms: list[Alarm] = []
        for version in versions:
            reference = reference_of(version)
            if reference is None:
                continue
            redis = self.store.redis
            lock = self._state_key(version) + ":lock"
            if not redis.set(lock, b"1", nx=True, px=LOCK_MS):
                continue  # another worker is advancing it
            try:
                alarms += self._advance(version, watermark, subjects(reference))
            finally:
                redis.delete(lock)
        return alarms

    def _advance(self, version: str, watermark: int, pits: dict[str, PitReference]) -> list[Alarm]:
        redis, key = self.store.redis, self._state_key(version)
        fields = _decode(redis.hgetall(key))
        # from the version's first window, closed or not: a worker that starts on a backlog
        # may close windows before it first gets here, and their sub-windows are verdicts too
        cursor = (
            int(fields["cursor"]) if "cursor" in fields else self.store.earliest_window(version)
        )
        if cursor is None:
            return []  # nothing counted for this version yet
        states = {name: _load(fields, name) for name in pits}
        alarms: list[Alarm] = []
        counts: dict[str, str] = {}
        counted_window: int | None = None
        ahead = True
        moved = False
        windows_read = 0
        while cursor + self.sub_ms + self.lateness_ms <= watermark:
            start = window_start(cursor, self.size_ms)
            if start != counted_window:
                if windows_read == MAX_WINDOWS_PER_TICK:
                    break  # a long gap: the next tick goes on from here
                counts, counted_window = _decode(self.store.counts(version, start)), start
                ahead = not self.store.is_closed(version, start)
                windows_read += 1
            if not counts:  # nothing counted in this window: none of its sub-windows move
                cursor, moved = start + self.size_ms, True
                continue
            k = (cursor - start) // self.sub_ms
            for name, pit in pits.items():
                n, total = pit_counts(int(counts.get(f"q{k}:{name}", 0)))
                step = subject_step(
                    states[name], pit, n, total, self.bands, self.thresholds, self.change
                )
                states[name] = step.state
                if step.severity is not None:
                    end = min(cursor + self.sub_ms, start + self.size_ms)
                    alarms.append(Alarm(version, name, step, cursor, end, ahead))
            cursor = min(cursor + self.sub_ms, start + self.size_ms)
            moved = True
        if not moved:
            return alarms
        update: dict[str | bytes, str] = {"cursor": str(cursor)}
        for name, state in states.items():
            update |= _dump(name, state)
        # the test's verdicts, whatever alerts they became
        raised = {f"{a.start}:{a.subject}": str(a.found.severity) for a in alarms}
        if not self.write_from(version, fields.get("cursor", ""), update, raised):
            log.info("sequential: another worker judged %s's sub-windows meanwhile", version)
            return []  # its state and its alarms stand; the next advance goes on from them
        return alarms

    def write_from(
        self,
        version: str,
        read_cursor: str,
        update: Mapping[str | bytes, str],
        raised: Mapping[str, str],
    ) -> bool:
        """Store an advance made from the state whose cursor was ``read_cursor``, unless
        another worker has moved the cursor since: a worker that outlived its lock (10 s)
        must not put an older state back over a newer one."""
        key = self._state_key(version)
        args: list[str | bytes | int] = [read_cursor, self.store.ttl_s, len(update)]
        for pairs in (update, raised):
            for field, value in pairs.items():
                args += [field, value]
        return bool(self.store.advance_from(keys=[key, f"{key}:alarms"], args=args))

    def alarms(self, version: str) -> dict[str, str]:
        """Every alarm the test raised on ``version``'s windows still in Redis:
        ``<sub-window start>:<subject>`` → severity."""
        return _decode(self.store.redis.hgetall(f"{self._state_key(version)}:alarms"))

    def hold_resolutions(
        self,
        version: str,
        start: int,
        alerts: list[DriftAlert],
        was: dict[str, str],
        now: dict[str, str],
    ) -> list[DriftAlert]:
        """The window at ``start``'s alerts, less the resolutions of what this test found
        within it (``hold_resolutions``), and of a NOTICE whose trend is still there: the
        window's bands cannot see a trend under LOW, so its verdict is no reason to resolve
        one; the trend test's statistic falling back is."""
        if not self.sub_ms:
            return alerts
        held = raised_within(self.alarms(version), start, start + self.size_ms)
        held |= {
            subject
            for subject, severity in was.items()
            if severity == Severity.NOTICE and self.trending(version, subject)
        }
        return hold_resolutions(alerts, held, was, now) if held else alerts

    def trending(self, version: str, subject: str) -> bool:
        """Whether ``subject``'s trend test is in an alarmed incident."""
        raw = self.store.redis.hget(self._state_key(version), f"{subject}~trend")
        return raw is not None and TrendState.decode(raw.decode()).alarmed


def alarm_alerts(
    model_name: str,
    alarms: list[Alarm],
    was: dict[str, str],
    now: dict[str, str],
    thresholds: SequentialThresholds = DEFAULT,
    change: SequentialThresholds = CHANGE,
) -> list[DriftAlert]:
    """The FIRING alerts of ``alarms`` whose subject is not in drift yet at that severity
    (``transition``); ``now`` records them, as a window's verdicts do. An alarm in a window
    that has already been judged (a backlog read faster than the windows closed) raises
    nothing: that window's verdict came first, and an alert after it would contradict it."""
    alerts = []
    for alarm in (a for a in alarms if a.ahead):
        found, window = alarm.found, (alarm.start, alarm.end)
        assert found.severity is not None
        if not transition(alarm.subject, True, was, now, found.severity):
            continue
        score = alarm.subject == SCORE_SUBJECT
        if found.alarm is None:
            assert found.trend is not None and found.trend.alarm is not None
            alerts.append(
                trend_alert(
                    model_name, alarm.version, alarm.subject, found.trend, window, score=score
                )
            )
            continue
        alerts.append(
            sequential_alert(
                model_name,
                alarm.version,
                alarm.subject,
                found.alarm,
                (thresholds if found.baseline is None else change).threshold,
                window,
                score=score,
                baseline=found.baseline,
            )
        )
    return alerts


def raised_within(alarms: dict[str, str], start: int, end: int) -> set[str]:
    """The subjects of ``alarms`` (``SequentialWatch.alarms``) raised by a sub-window that
    starts in ``[start, end)``."""
    found = set()
    for key in alarms:
        at, _, subject = key.partition(":")
        if start <= int(at) < end:
            found.add(subject)
    return found


def hold_resolutions(
    alerts: list[DriftAlert], held: set[str], was: dict[str, str], now: dict[str, str]
) -> list[DriftAlert]:
    """``alerts`` without the RESOLVED of a subject in ``held``: a shift the sequential test
    found in this window's later sub-windows leaves most of the window as it was, and the
    window's verdict would resolve it, for the next window to fire it again (the demo's drift
    begins mid-window: FIRING, RESOLVED and FIRING again within 11 s). The subject stays in
    ``now`` at its severity; the next window keeps or resolves it. Segments are not held."""
    kept = []
    for alert in alerts:
        subject = SCORE_SUBJECT if alert.kind == AlertKind.SCORE_DRIFT else alert.feature
        if (
            alert.status == AlertStatus.RESOLVED
            and alert.segment is None
            and subject in held
            and subject in was
        ):
            now[subject] = was[subject]
            continue
        kept.append(alert)
    return kept
