"""The drift monitor's sequential test against the real broker and Redis: an abrupt shift
is called before its window closes, and the verdicts do not depend on how many workers judged
the sub-windows or whether one was restarted in mid-stream."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.models.monitoring.sequential import BASELINE_VALUES
from riskstream.models.monitoring.trend import TREND
from riskstream.models.registry import CHAMPION, Registry
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import deployment_with_champion
from tests.integration.servers import start_workers, wait_until_owning
from tests.integration.test_monitor import T0, WINDOW_S, _produce, _run, _window_predictions
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

DEPLOYMENT = {"monitor_window_s": WINDOW_S, "monitor_lateness_s": 0}
PER_WINDOW = 400  # 8 values per sub-window of 200 ms


def _shifted_stream(
    settings: Settings,
    shifts: list[float],
    closing: bool = False,
    late: dict[int, float] | None = None,
) -> list[dict[str, Any]]:
    """Training rows resampled, ``PER_WINDOW`` per window, glucose moved by ``shifts[w]``
    sd in window w; the same rows for the same ``shifts``. ``closing``: one more window of
    30 values, under one per sub-window (too few to judge), that moves the watermark on. ``late``:
    window → the share of its time after which its shift begins (0: all of it)."""
    registry = Registry(settings)
    version = registry.alias_version(CHAMPION)
    assert version is not None
    model = registry.load(version)
    raw, _ = data.load(data.TRAIN_FILE)
    rng = np.random.default_rng(4)
    out = []
    sizes = [PER_WINDOW] * len(shifts) + ([30] if closing else [])
    for w, (shift, size) in enumerate(zip([*shifts, 0], sizes, strict=False)):
        rows = raw.iloc[rng.integers(0, len(raw), size)].reset_index(drop=True)
        moved = np.arange(size) >= (late or {}).get(w, 0.0) * size
        rows["glucose"] = rows["glucose"] + moved * shift * float(raw["glucose"].std())
        out += _window_predictions(model, version, rows, w)
    return out


def _state(settings: Settings) -> dict[str, str]:
    """The version's sequential state in Redis: each subject's statistic and run."""
    store = WindowStore(settings)
    raw = store.redis.hgetall(store.window_key("1", -1) + ":sequential")
    return {k.decode(): v.decode() for k, v in raw.items()}


def _judged_through(settings: Settings, end: int) -> bool:
    """Whether the sequential test has judged every sub-window before ``end``."""
    return int(_state(settings).get("cursor", 0)) >= end


def _called_while_open(
    settings: Settings, stream: list[dict[str, Any]], shifted: int, closed: int
) -> Monitor:
    """A monitor over ``stream``: first up to the end of the window at ``shifted``, until
    the sequential test fires while that window is still open; then the rest, until
    ``closed`` windows have closed."""
    _produce(settings, [p for p in stream if p["event_time"] < shifted + WINDOW_S * 1000])
    monitor = Monitor(settings)
    stop = threading.Event()
    threads = start_workers({"monitor": monitor}, stop)
    try:
        wait_for(lambda: any(a.statistic == "cusum" for a in monitor.stats.alerts), 90)
        assert monitor.stats.last_closed < shifted, "called before its window closed"
        _produce(settings, [p for p in stream if p["event_time"] >= shifted + WINDOW_S * 1000])
        wait_for(lambda: monitor.stats.windows_closed >= closed, 90)
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)
    return monitor


def test_an_abrupt_shift_raises_a_high_alert_before_its_window_closes(
    stack: Settings, tmp_path: Any
) -> None:
    """Three clean windows, then a shifted one that is still open (its last record is before
    its end): the sequential test calls it from its sub-windows. Once the next windows
    arrive and it closes, its verdict agrees and raises nothing more."""
    settings = deployment_with_champion(stack, "sq", tmp_path, **DEPLOYMENT)
    stream = _shifted_stream(settings, [0, 0, 0, 1, 1, 0])
    shifted = T0 + 3 * WINDOW_S * 1000
    monitor = _called_while_open(settings, stream, shifted, closed=5)
    glucose = [a for a in monitor.stats.alerts if a.feature == "glucose"]
    assert glucose, [a.message for a in monitor.stats.alerts]
    first = glucose[0]
    assert first.statistic == "cusum" and first.status == "FIRING", first.message
    assert first.severity in ("HIGH", "CRITICAL")
    # a sub-window of the shifted window
    assert shifted <= first.window_start < first.window_end <= shifted + WINDOW_S * 1000
    assert first.window_end - first.window_start == WINDOW_S * 1000 // settings.monitor_subwindows
    # the window's verdict at close agrees, and does not fire the same incident again
    assert [a.status for a in glucose].count("FIRING") == 1, [a.message for a in glucose]
    assert any(v.feature == "glucose" and v.drifting for v in monitor.stats.verdicts[shifted])
    # nothing from the sequential test in the clean windows before it
    assert all(a.window_start >= shifted for a in monitor.stats.alerts if a.statistic == "cusum")


def test_a_shift_late_in_a_window_is_not_resolved_by_that_windows_verdict(
    stack: Settings, tmp_path: Any
) -> None:
    """Glucose moves by 1 sd in the last 30% of window 3 (120 values: a run needs 100) and
    stays moved in window 4. The sequential test fires from window 3's late sub-windows
    while it is open; window 3's own verdict, mostly clean, sees no drift, and would
    resolve the alert for window 4 to fire it again. The hold keeps it firing: one FIRING,
    and one RESOLVED once window 5 is clean."""
    settings = deployment_with_champion(stack, "sh", tmp_path, **DEPLOYMENT)
    stream = _shifted_stream(settings, [0, 0, 0, 1, 1, 0, 0], closing=True, late={3: 0.7})
    shifted = T0 + 3 * WINDOW_S * 1000
    monitor = _called_while_open(settings, stream, shifted, closed=7)
    glucose = [a for a in monitor.stats.alerts if a.feature == "glucose" and a.segment is None]
    said = [(a.status, a.statistic, a.window_start - T0) for a in glucose]
    assert [a.status for a in glucose] == ["FIRING", "RESOLVED"], said
    assert glucose[0].statistic == "cusum" and glucose[0].window_start >= shifted + 7_000, said
    assert glucose[1].window_start == T0 + 5 * WINDOW_S * 1000, said  # the first clean window
    # the hold was needed: window 3's own verdict is no drift, window 4's is drift
    verdicts = monitor.stats.verdicts
    assert not any(v.feature == "glucose" and v.drifting for v in verdicts[shifted])
    assert any(v.feature == "glucose" and v.drifting for v in verdicts[shifted + WINDOW_S * 1000])


def test_two_monitors_and_a_restart_reach_the_verdicts_of_one_monitor(
    stack: Settings, tmp_path: Any
) -> None:
    """The same stream judged by one monitor, and by two in one group of which one is
    stopped in mid-stream and replaced before the rest arrives: the same sequential alerts,
    and the same CUSUM state (every subject's statistic and run) at the end. No partition
    goes idle (the next half is not on its way yet), and a last window of 30 values, too
    few per sub-window to judge, moves the watermark past the end."""
    shifts = [0, 0, 1, 1, 0, 0, 0, -1, 0, 0]
    changes = {**DEPLOYMENT, "monitor_idle_s": 600}
    alone = deployment_with_champion(stack, "sqa", tmp_path / "a", **changes)
    shared = deployment_with_champion(stack, "sqb", tmp_path / "b", **changes)
    end = T0 + len(shifts) * WINDOW_S * 1000
    _produce(alone, _shifted_stream(alone, shifts, closing=True))
    single = Monitor(alone)
    _run([single], lambda: _judged_through(alone, end), timeout=150)

    stream = _shifted_stream(shared, shifts, closing=True)
    half = T0 + 5 * WINDOW_S * 1000
    _produce(shared, [p for p in stream if p["event_time"] < half])
    first, second = Monitor(shared), Monitor(shared)
    stop_first, stop_rest = threading.Event(), threading.Event()
    threads = start_workers({"first": first}, stop_first)
    threads |= start_workers({"second": second}, stop_rest)
    wait_until_owning({"first": first, "second": second}, timeout=60)
    wait_for(lambda: _judged_through(shared, half - WINDOW_S * 1000), 90, every=0.2)
    stop_first.set()
    threads["first"].join(30)
    replacement = Monitor(shared)
    threads |= start_workers({"replacement": replacement}, stop_rest)
    _produce(shared, [p for p in stream if p["event_time"] >= half])
    wait_for(lambda: _judged_through(shared, end), 150, every=0.3)
    stop_rest.set()
    for thread in threads.values():
        thread.join(30)

    # the sequential verdicts: every alarm raised (which of them became an alert also
    # depends on when each window's verdict came), and the state they leave
    expected = replacement.sequential.alarms("1")
    assert expected, "the shifts raised sequential alarms"
    assert Monitor(alone).sequential.alarms("1") == expected
    judged, expected_state = _state(shared), _state(alone)
    judged.pop("cursor"), expected_state.pop("cursor")  # as far as each watermark went
    assert judged == expected_state and any(k.endswith(":up_n") for k in judged)
    # the change test's baseline (the first 2,000 values) filled, and its CUSUM ran on
    assert int(judged["glucose~base:n"]) >= BASELINE_VALUES
    assert any(k.startswith("glucose~base:") and k.endswith("_n") for k in judged)


def test_a_slow_ramp_is_a_notice_ahead_of_every_window_and_the_windows_keep_it(
    stack: Settings, tmp_path: Any
) -> None:
    """50 clean windows (20,000 values: the trend test's baseline), then glucose ramps up
    by 0.025 sd a window (0.5 sd over 20 windows), each window produced once the one before
    is judged. The trend test raises a NOTICE from a window still open, before any window
    or CUSUM calls glucose. The next window closes on a ramp still under the LOW band; its
    verdict (no drift) does not resolve the NOTICE while the trend lasts."""
    settings = deployment_with_champion(stack, "tr", tmp_path, **DEPLOYMENT)
    clean = TREND.baseline // PER_WINDOW
    shifts = [0.0] * clean + [0.025 * (w + 1) for w in range(20)]
    stream = _shifted_stream(settings, shifts)
    window_ms = WINDOW_S * 1000
    sub_ms = window_ms // settings.monitor_subwindows

    def notices() -> list[Any]:
        return [a for a in monitor.stats.alerts if a.severity == "NOTICE"]

    def produce(first: int, last: int) -> None:
        """Windows ``first`` to ``last`` on the topic, then wait until the test has judged
        every sub-window of ``last`` it can while that window is open: the watermark is the
        least of the partitions' latest event times, round robin within 6 records (150 ms)
        of the window's last, so all but its last two sub-windows."""
        begin, end = T0 + first * window_ms, T0 + (last + 1) * window_ms
        _produce(settings, [p for p in stream if begin <= p["event_time"] < end], True)
        wait_for(lambda: _judged_through(settings, end - 2 * sub_ms), 120, every=0.2)

    monitor = Monitor(settings)
    stop = threading.Event()
    threads = start_workers({"monitor": monitor}, stop)
    try:
        produce(0, clean)
        noticed = clean
        while not notices() and noticed + 1 < len(shifts):
            noticed += 1
            produce(noticed, noticed)
        assert notices(), "the ramp raised no NOTICE"
        produce(noticed + 1, noticed + 2)  # the next window, and one to close it
        wait_for(lambda: monitor.stats.windows_closed >= noticed + 2, 60, every=0.2)
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)
    glucose = [a for a in monitor.stats.alerts if a.feature == "glucose" and a.segment is None]
    said = [(a.status, a.severity, a.statistic, (a.window_start - T0) // 1000) for a in glucose]
    (first, *_) = glucose
    assert (first.status, first.severity, first.statistic) == ("FIRING", "NOTICE", "trend"), said
    assert "trending up" in first.message and "under the LOW band" in first.message
    # from the window that was open when it came, and that was not the first of the ramp
    start = T0 + noticed * window_ms
    assert noticed > clean and start <= first.window_start < start + window_ms, said
    # the window after it closed without drift (a verdict that would resolve it), and the
    # NOTICE is still firing
    verdicts = monitor.stats.verdicts[T0 + (noticed + 1) * window_ms]
    assert not any(v.feature == "glucose" and v.drifting for v in verdicts), said
    assert [a.status for a in glucose] == ["FIRING"], said
