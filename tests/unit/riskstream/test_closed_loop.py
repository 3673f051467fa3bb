"""The closed loop's own bookkeeping: a dead worker is named, and drift left firing is seen."""

from __future__ import annotations

import threading

from riskstream.closed_loop import _guarded
from riskstream.loop_report import LoopReport, judge, still_drifting
from riskstream.schemas.events import DriftAlert
from tests.unit.schemas.samples import drift_alert


def test_a_worker_that_dies_is_named_with_its_error_and_stops_the_loop() -> None:
    stop = threading.Event()
    died: dict[str, str] = {}

    def monitor(_: threading.Event) -> None:
        raise RuntimeError("could not download the model artifact")

    _guarded("monitor", monitor, stop, died)
    assert stop.is_set()
    assert died == {"monitor": "RuntimeError: could not download the model artifact"}
    report = LoopReport("1", died=died)
    judge(report)
    assert "the monitor worker died: RuntimeError: could not download the model artifact" in (
        report.missing_steps
    )
    assert not report.closed


def test_a_worker_that_returns_is_not_a_death() -> None:
    stop, died = threading.Event(), {}
    _guarded("trainer", lambda _: None, stop, died)
    assert not stop.is_set() and died == {}


def _alert(status: str, feature: str | None, kind: str = "DATA_DRIFT") -> DriftAlert:
    return drift_alert(status=status, feature=feature, kind=kind)


def test_still_drifting_lists_subjects_whose_last_alert_fired() -> None:
    alerts = [
        _alert("FIRING", "glucose"),
        _alert("FIRING", None, "SCORE_DRIFT"),
        _alert("FIRING", "glucose"),  # an escalation
        _alert("RESOLVED", None, "SCORE_DRIFT"),
        _alert("FIRING", "bmi", "DATA_QUALITY"),  # not drift
    ]
    assert still_drifting(alerts) == ["glucose"]
    assert still_drifting([*alerts, _alert("RESOLVED", "glucose")]) == []
