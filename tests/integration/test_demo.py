"""The closed loop at small scale, against the real broker, Redis and MLflow: each step
happens, in order, and the new champion beats the old one on drifted traffic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import recovery
from bench.report import render
from bench.run import machine
from riskstream.app.closed_loop import LoopConfig, run_loop
from riskstream.app.loop_report import PHASES, LoopReport, recovery_phases, still_drifting
from riskstream.core.settings import Settings
from riskstream.models.monitoring.alerts import alert_subject
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import fresh_prefix
from tests.integration.test_bench_smoke import RECOVERY_HEADING, check_recovery_section


# the demo's own configuration: about 2 minutes on a good day, ends on evidence; its own cap
# (600 s of traffic) or a dead end (the retrain skipped, failed, not promoted) ends it first,
# with its reason, before the timeout would
@pytest.mark.timeout(720)
def test_drift_alert_retrain_promotion_recovery_in_order(stack: Settings, tmp_path: Path) -> None:
    settings = stack.model_copy(
        update={
            "topic_prefix": fresh_prefix("loop"),
            "topic_partitions": 3,
            "state_dir": tmp_path,
        }
    )
    lines: list[str] = []
    # Exactly the configuration `make demo` runs (LoopConfig's defaults are the command's,
    # tests/unit/riskstream/test_closed_loop.py checks it): the traffic ends on evidence, so
    # the test passes on a slow machine too; how fast the loop closes is measured in bench/.
    config = LoopConfig()
    report = run_loop(settings, config, echo=_printed(lines))
    assert report.closed, report.missing_steps
    assert not report.capped
    steps = [text for _, text in report.timeline]

    def first(prefix: str) -> int:
        return next(i for i, text in enumerate(steps) if text.startswith(prefix))

    assert (
        first("ALERT FIRING")
        < first("RETRAIN requested")
        < first("TRAINER REGISTERED")
        < first("TRAINER PROMOTED")
        <= first("SCORER now serves")
    ), steps
    phases_s = recovery_phases(report)
    assert all(phases_s[name] is not None for name, _, _ in PHASES), phases_s
    assert "read=" in report.trainer_seconds and "fit=" in report.trainer_seconds
    onset_window = min(int(a.window_start) for a in report.alerts)  # epoch ms
    assert onset_window >= int(report.drift_onset * 1000) - 10_000  # no alarm before drift
    _assert_each_record_is_labeled_once_and_the_new_version_recovers(config, report)
    _assert_no_window_is_split_between_versions(settings, report)
    _assert_quiet_after_recovery(report, steps, first("TRAINER PROMOTED"))
    _the_recovery_benchmark_reads_this_loop(config, report)


def _printed(lines: list[str]) -> Callable[[str], None]:
    """Keep each timeline line and print it as it comes: a run stopped by the timeout still
    shows, in its captured output, how far the loop got."""

    def echo(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    return echo


def _assert_each_record_is_labeled_once_and_the_new_version_recovers(
    config: LoopConfig, report: LoopReport
) -> None:
    phases = report.phases
    assert sum(p.n for p in phases.values()) == report.records  # each labeled once
    before = int(config.rate * config.drift_at_s)
    assert phases["before drift"].n == before
    # the traffic went on until a window the new champion served whole was judged
    assert phases["after recovery"].n >= config.rate * config.window_s
    assert phases["after recovery"].accuracy > phases["during drift"].accuracy
    assert report.new_version in report.first_offsets
    assert report.time_to_recovery_s is not None and report.time_to_recovery_s > 0


def _assert_no_window_is_split_between_versions(settings: Settings, report: LoopReport) -> None:
    """The promotion split no window between the two versions' counts; a split window's
    smaller part was judged as a volume drop."""
    store = WindowStore(settings)
    window = store.window_key("*", "*")
    versions_per_start = Counter(
        key.decode().rsplit(":", 1)[1]
        for key in store.redis.scan_iter(window)
        if key.decode().count(":") == window.count(":")
    )
    assert versions_per_start and max(versions_per_start.values()) == 1, versions_per_start
    assert not [a for a in report.alerts if a.kind == "VOLUME"], "a volume alert, no drop"


def _assert_quiet_after_recovery(report: LoopReport, steps: list[str], promoted: int) -> None:
    """The new version's reference is the traffic it was trained on, so every drift alert of
    the incident resolves once it serves, nothing new fires against it that could ask for
    another retrain, and the incident made exactly one request."""
    drift = [(a.status, alert_subject(a)) for a in report.alerts if "DRIFT" in a.kind]
    fired = {subject for status, subject in drift if status == "FIRING"}
    assert fired and not still_drifting(report.alerts), drift
    resolutions = [i for i, text in enumerate(steps) if text.startswith("ALERT RESOLVED")]
    assert resolutions and max(resolutions) > promoted, steps
    against_new = [
        a
        for a in report.alerts
        if a.model_version == report.new_version
        and a.status == "FIRING"
        and a.severity in ("HIGH", "CRITICAL")
    ]
    assert not against_new, [a.message for a in against_new]
    assert len(report.requests) == 1, report.requests


def _the_recovery_benchmark_reads_this_loop(config: LoopConfig, report: LoopReport) -> None:
    """The smoke test of `bench/recovery.py`: it measures exactly this loop, so its section is
    made and rendered from this one instead of running a second loop in the suite."""
    section = recovery.summary(config, [recovery.loop_result(report)])
    check_recovery_section(section)
    results = {"started": "-", "seconds": 0.0, "mode": "smoke", "machine": machine()}
    text = render({**results, "recovery": section}, Path("demo"))
    assert RECOVERY_HEADING in text, "the report has no recovery section"
