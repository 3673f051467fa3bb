"""The closed loop's own bookkeeping: a dead worker is named, and drift left firing is seen."""

from __future__ import annotations

import threading

import pytest

from riskstream.app.closed_loop import LoopConfig, _guarded, _until_evidence
from riskstream.app.loop_report import LoopReport, judge, still_drifting
from riskstream.producers.simulator import SimulatedRecord
from riskstream.schemas.events import DriftAlert, PatientRecord
from tests.unit.schemas.samples import SAMPLES, drift_alert


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


class _Monitor:
    """What ``_until_evidence`` reads of the drift monitor: the last window it closed."""

    def __init__(self) -> None:
        self.stats = type("Stats", (), {"last_closed": 0})()


def _records(start_ms: int, count: int, gap_ms: int = 100) -> list[SimulatedRecord]:
    return [
        SimulatedRecord(
            PatientRecord.from_avro(
                {**SAMPLES["PatientRecord"], "event_time": start_ms + i * gap_ms}
            ),
            0,
            1.0,
            i * gap_ms / 1000,
        )
        for i in range(count)
    ]


def test_traffic_ends_a_whole_window_after_the_new_champions_window_is_judged() -> None:
    window = 10_000
    report = LoopReport("1", new_version="2", recovered_at=25.0)  # serving from t=25 s
    report.alerts = [_alert("FIRING", "glucose"), _alert("RESOLVED", "glucose")]
    monitor = _Monitor()
    seen = []
    for record in _until_evidence(iter(_records(0, 1000)), report, monitor, 0, window):
        seen.append(record.record.event_time)
        if record.record.event_time == 45_000:
            monitor.stats.last_closed = 30_000  # the first window served whole, judged
    # evidence at t=45 s: the traffic goes on to the end of that window
    assert seen[-1] == 49_900 and not report.capped


def test_alerts_still_firing_end_the_traffic_after_a_second_whole_window() -> None:
    window = 10_000
    report = LoopReport("1", new_version="2", recovered_at=25.0)
    report.alerts = [_alert("FIRING", "glucose")]
    monitor = _Monitor()
    seen = []
    for record in _until_evidence(iter(_records(0, 1000)), report, monitor, 0, window):
        seen.append(record.record.event_time)
        if record.record.event_time == 45_000:
            monitor.stats.last_closed = 30_000  # judged, still firing: not yet
        if record.record.event_time == 55_000:
            monitor.stats.last_closed = 40_000  # a second whole window: visibly firing
    assert seen[-1] == 59_900
    judge(report)
    assert "drift alerts still firing after recovery: glucose" in report.missing_steps


def test_traffic_that_runs_out_before_the_evidence_is_judged_capped() -> None:
    report = LoopReport("1", cap_s=60.0)
    records = list(_until_evidence(iter(_records(0, 50)), report, _Monitor(), 0, 10_000))
    assert len(records) == 50 and report.capped
    judge(report)
    assert any("reached its cap (--duration 60 s)" in step for step in report.missing_steps)


@pytest.mark.parametrize(
    ("evidence", "outcome", "search", "ends"),
    [
        ("holdout", "SKIPPED", None, True),
        ("holdout", "FAILED", None, True),
        ("holdout", "CHALLENGER", None, False),  # the background search may still win
        ("holdout", "CHALLENGER", "CHALLENGER", True),
        ("holdout", "CHALLENGER", "PROMOTED", False),
        ("live", "CHALLENGER", None, False),  # the referee decides on live labels
        ("live", "REJECTED", None, True),
    ],
)
def test_traffic_ends_at_once_when_the_loop_can_no_longer_close(
    evidence: str, outcome: str, search: str | None, ends: bool
) -> None:
    report = LoopReport("1", evidence=evidence, search_status=search)
    seen = 0
    for record in _until_evidence(iter(_records(0, 1000)), report, _Monitor(), 0, 10_000):
        seen += 1
        if record.record.event_time == 20_000:  # the trainer answers at t=20 s
            report.outcome = {"status": outcome, "reason": "only 20 labeled examples"}
    assert (seen == 201) is ends and report.capped is not ends
    judge(report)
    assert any(f"(trainer: {outcome}: only 20" in step for step in report.missing_steps)


def test_the_demo_command_runs_the_loops_defaults() -> None:
    """`make demo` and test_demo run one configuration: the command's defaults are the
    LoopConfig's."""
    import inspect

    from riskstream.app.cli.demo_cmd import demo

    options = {
        name: parameter.default
        for name, parameter in inspect.signature(demo.__wrapped__).parameters.items()
    }
    config = LoopConfig()
    assert options["scenario"] == config.scenario and options["evidence"] == config.evidence
    assert options["rate"] == config.rate and options["duration"] == config.duration_s
    assert options["drift_at"] == config.drift_at_s and options["seed"] == config.seed
    assert options["after_recovery"] == config.after_recovery
