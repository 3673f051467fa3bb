"""Performance estimated before labels, through the real scorer, joiner and both monitors: on a
true covariate shift, each window's estimate (published by the drift monitor from scores
alone) is within the stated tolerance of what its labels realize."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH, PERFORMANCE_WINDOWS
from riskstream.io.kafka.clients import codec_for
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, SimulatedRecord, Simulator
from riskstream.schemas.events import GroundTruth
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import decoded, deployment_with_champion
from tests.integration.servers import start_workers, wait_until_owning
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

WINDOW_S, RATE = 10, 100.0  # 1,000 records per window
REFERENCE, SHIFTED = 2_000, 5_000
CLOSING = 40  # records that close the last shifted window (``_closing_records``)
# BENCHMARKS.md ("Performance estimated before labels"), population-shift, 60 windows of
# 1,000 records over three seeded streams, each with its own reference: the
# reference-calibrated estimate missed ROC-AUC by -0.004 on average and by 0.033 at worst,
# accuracy by -0.007 and 0.043. Asserted with about twice that room; the mean over the five
# shifted windows must stay near zero, where estimates on served scores alone (no
# reference) missed ROC-AUC by -0.035 on average.
AUC_TOLERANCE, ACCURACY_TOLERANCE, MEAN_AUC_TOLERANCE = 0.07, 0.08, 0.025


def _traffic(start_ms: int) -> list[SimulatedRecord]:
    """3,000 clean records then 5,000 of a population shift (glucose +1 sd, patients selected
    by their features alone), 100 per second of event time."""
    n = REFERENCE + 1_000 + SHIFTED
    scenario = Scenario.named("population-shift", start=REFERENCE + 1_000)
    simulator = Simulator(PimaModel.fit(), scenario, seed=21, rate=RATE, run=uuid.uuid4().hex[:8])
    return list(simulator.stream(n, start_ms))


def _closing_records() -> list[SimulatedRecord]:
    """Records of other patients (``CLOSING`` of them, so both partitions get some)."""
    simulator = Simulator(PimaModel.fit(), seed=22, rate=RATE, run=uuid.uuid4().hex[:8])
    return list(simulator.stream(CLOSING, 0))


def _publish(
    settings: Settings, items: list[SimulatedRecord], start_ms: int, joiner: Joiner
) -> None:
    """Records from ``start_ms`` on, then, once the joiner holds their predictions, each one's
    true outcome labeled at its event time (so a labeled window holds the records of the
    prediction window with the same start). Labels sent at once raced the scorer: a label
    before its prediction waits in the joiner's grace set and joins later, behind labels
    published after it, so up to 129 examples came after their window's lateness
    (2026-12-03); a clinic's labels come days after its predictions."""
    cached = joiner.stats.predictions_cached
    moved = [
        dataclasses.replace(item.record, event_time=start_ms + int(i * 1000 / RATE))
        for i, item in enumerate(items)
    ]
    publisher = Publisher(settings)
    for record in moved:
        publisher.send_record(record)
    summary = publisher.finish(PublishSummary())
    assert summary.failed == 0 and summary.delivered == len(items)
    wait_for(lambda: joiner.stats.predictions_cached >= cached + len(items), 120, every=0.2)
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 10}))
    for record, item in zip(moved, items, strict=True):
        truth = GroundTruth(
            label_id=uuid.uuid4().hex,
            request_id=record.request_id,
            patient_id=record.patient_id,
            event_time=record.event_time + 1,
            outcome=item.outcome,
            source=record.source,
        )
        producer.produce(
            settings.topic(GROUND_TRUTH.name),
            key=truth.patient_id.encode(),
            value=codec.encode_event(truth),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def _aligned(ms: int) -> int:
    return ms - ms % (WINDOW_S * 1000)


def _wait(until: Callable[[], bool], timeout: float, threads: dict[str, threading.Thread]) -> None:
    wait_for(until, timeout, every=0.5)
    assert not [n for n, t in threads.items() if not t.is_alive()], "a worker died"


def _windows(settings: Settings) -> list[dict[str, Any]]:
    topic = settings.topic(PERFORMANCE_WINDOWS.name)
    return list(decoded(settings, topic, "PerformanceWindow", "beginning"))


def test_estimates_before_labels_match_realized_performance_on_a_covariate_shift(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(
        stack,
        "es",
        tmp_path,
        partitions=2,
        monitor_window_s=WINDOW_S,
        monitor_lateness_s=2,
        # No partition goes idle here: the last windows are closed by the closing records
        # below. This test publishes 50 s of event time in a second or two, so a joiner or
        # monitor stalled for longer than the idle time on a loaded machine let the idle clock
        # move a labeled-examples partition a whole window past examples still to come: 963
        # of 8,000 were counted late in CI on 2026-12-03 with the default 10 s (6,868 and
        # 7,569 counted in two runs of 2026-12-02 with 3 s). test_drift_trust covers idleness.
        monitor_idle_s=600,
        performance_window_s=WINDOW_S,
        performance_lateness_s=2,
        estimate_reference_size=REFERENCE,
    )
    total = REFERENCE + 1_000 + SHIFTED
    windows = total // 1_000
    monitor, performance, joiner = _run_covariate_shift(settings, windows)
    late = performance.stats.late
    assert late == 0, f"{late} labeled examples came after their window closed"
    assert joiner.stats.parked == 0, "a label came before its prediction"
    assert total <= performance.stats.examples <= total + CLOSING, "every record labeled once"
    records = _windows(settings)
    estimated = {r["window_start"]: r for r in records if r["basis"] == "ESTIMATED"}
    realized = {r["window_start"]: r for r in records if r["basis"] == "REALIZED"}
    assert len(estimated) == windows and len(realized) == windows, (estimated, realized)
    shifted = sorted(realized)[(REFERENCE + 1_000) // 1_000 :]
    assert len(shifted) == SHIFTED // 1_000
    misses = [_estimate_error(estimated[start], realized[start]) for start in shifted]
    covered = sum(inside for _, _, inside in misses)
    print(f"the realized ROC-AUC fell inside the estimate's interval in {covered} of 5")
    assert all(abs(auc) <= AUC_TOLERANCE for auc, _, _ in misses), misses
    assert abs(sum(auc for auc, _, _ in misses) / len(misses)) <= MEAN_AUC_TOLERANCE, misses
    assert all(abs(acc) <= ACCURACY_TOLERANCE for _, acc, _ in misses), misses
    _assert_the_gauges_carry_the_estimate_and_its_bounds(monitor)


def _run_covariate_shift(
    settings: Settings, windows: int
) -> tuple[Monitor, PerformanceMonitor, Joiner]:
    """The clean reference period, labeled, then the shifted windows, then closing records;
    the workers, once both monitors closed every window."""
    items = _traffic(0)
    clean, shifted_items = items[: REFERENCE + 1_000], items[REFERENCE + 1_000 :]
    monitor, performance, joiner = Monitor(settings), PerformanceMonitor(settings), Joiner(settings)
    workers = {
        "scorer": Scorer(settings, instance="es"),
        "joiner": joiner,
        "monitor": monitor,
        "performance": performance,
    }
    stop = threading.Event()
    threads = start_workers(workers, stop)
    try:
        wait_until_owning({n: w for n, w in workers.items() if n != "joiner"}, 90)
        # The reference period: labeled long before the shifted windows are judged, as in a
        # clinic where the first weeks' outcomes are known by the time the population moves.
        _publish(settings, clean, _aligned(int(time.time() * 1000) - 150_000), joiner)
        _wait(lambda: performance.estimates.references.probability("1") is not None, 120, threads)
        assert performance.estimates.references.probability("1") is not None, "no reference"
        # After the clock has moved idle partitions on from the clean stream's end: windows
        # that start ahead of where it moved them, and end in the past.
        shifted_start = _aligned(int(time.time() * 1000) - 55_000) + 10_000
        _publish(settings, shifted_items, shifted_start, joiner)
        # Closing records, in a window of their own just past the last shifted window's end
        # plus lateness: they move every partition's watermark on, so the shifted windows
        # close on event time alone, and their own window stays open.
        closing_start = shifted_start + SHIFTED * 1000 // int(RATE) + 3_000
        _publish(settings, _closing_records(), closing_start, joiner)
        _wait(
            lambda: (
                monitor.stats.windows_closed >= windows
                and performance.stats.windows_closed >= windows
            ),
            240,
            threads,
        )
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)
    return monitor, performance, joiner


def _estimate_error(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float, bool]:
    """One shifted window's estimate against its realized figures: the ROC-AUC and accuracy
    errors, and whether the realized ROC-AUC fell inside the estimate's 95% interval."""
    assert before["sample_size"] == after["sample_size"] == 1_000
    auc = before["estimated"]["roc_auc"] - after["realized"]["roc_auc"]
    accuracy = before["estimated"]["accuracy"] - after["realized"]["accuracy"]
    # the performance monitor's check on the same records says the same
    assert after["estimate_error"]["roc_auc"] == pytest.approx(auc, abs=0.002)
    # each estimate carries its 95% interval, drawn from the same counts by both monitors
    low, high = before["estimated_low"]["roc_auc"], before["estimated_high"]["roc_auc"]
    assert low < before["estimated"]["roc_auc"] < high and 0.02 < high - low < 0.25
    for bound in ("estimated_low", "estimated_high"):
        assert after[bound] == pytest.approx(before[bound], abs=0.01), bound
    return round(auc, 3), round(accuracy, 3), low <= after["realized"]["roc_auc"] <= high


def _assert_the_gauges_carry_the_estimate_and_its_bounds(monitor: Monitor) -> None:
    gauge = monitor.metrics.registry.get_sample_value(
        "riskstream_performance_estimate", {"version": "1", "metric": "roc_auc"}
    )
    assert gauge is not None and 0.6 < gauge < 1.0
    bounds = [
        monitor.metrics.registry.get_sample_value(
            "riskstream_performance_estimate_bound",
            {"version": "1", "metric": "roc_auc", "bound": bound},
        )
        for bound in ("low", "high")
    ]
    assert None not in bounds and bounds[0] < gauge < bounds[1], (bounds, gauge)
