"""Drift verdicts on traffic the simulator did not make, through the real scorer and monitor:
real Pima rows stay quiet, missing values are a quality alert and not drift, a burst followed
by silence is judged, and predictions of a version this registry lacks kill no worker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS, PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.producers.pima_rows import as_records, complete_rows, resample
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.schemas.events import PatientRecord
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import deployment_with_champion, drain_committed
from tests.integration.servers import start_workers, wait_until_owning
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

# idle 10 s: a partition the scorer serves late on a busy machine must not be taken for a
# silent one, whose windows then close before its records arrive (CI lost 20-53 at 3 s)
WINDOW_S, LATENESS_S, IDLE_S = 10, 2, 10
RATE = 100.0  # records per second of event time
SEVERE = ("MEDIUM", "HIGH", "CRITICAL")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drift-trust")


def _deployment(stack: Settings, state_dir: Path) -> Settings:
    return deployment_with_champion(
        stack,
        "dt",
        state_dir,
        partitions=3,
        monitor_window_s=WINDOW_S,
        monitor_lateness_s=LATENESS_S,
        monitor_idle_s=IDLE_S,
    )


def _publish(settings: Settings, records: list[PatientRecord], rate: float = 0.0) -> None:
    """Publish PatientRecords; ``rate`` > 0 paces them in wall-clock time."""
    publisher = Publisher(settings)
    started = time.monotonic()
    for i, record in enumerate(records):
        publisher.send_record(record)
        if rate and i % 100 == 99:
            ahead = (i + 1) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    summary = publisher.finish(PublishSummary())
    assert summary.failed == 0 and summary.delivered == len(records)


def _run_until(
    workers: dict[str, Any], until: Callable[[], bool], timeout: float, during: Any = None
) -> dict[str, threading.Thread]:
    stop = threading.Event()
    threads = start_workers(workers, stop)
    try:
        wait_until_owning({n: w for n, w in workers.items() if hasattr(w, "metrics")}, 90)
        if during is not None:
            during()
        wait_for(until, timeout, every=0.3)
        dead = [name for name, thread in threads.items() if not thread.is_alive()]
        assert not dead, f"workers died: {dead}"
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)
    return threads


def _real_rows_through_the_scorer(
    settings: Settings, n: int, missing: dict[str, float] | None = None
) -> Monitor:
    """``n`` resampled real Pima rows, 100/s of event time ending now, scored and judged."""
    rows, _ = resample(n, np.random.default_rng(7), missing)
    start_ms = int(time.time() * 1000) - int(n * 1000 / RATE)
    records = as_records(rows, start_ms, RATE, run=uuid.uuid4().hex[:8])
    monitor = Monitor(settings)
    closes = n // (WINDOW_S * int(RATE)) - 1  # the last window may be partly filled
    _run_until(
        {"scorer": Scorer(settings, instance="dt"), "monitor": monitor},
        lambda: monitor.stats.records >= n and monitor.stats.windows_closed >= closes,
        timeout=180,
        during=lambda: _publish(settings, records),
    )
    assert monitor.stats.records == n, "every scored record is counted once"
    assert monitor.stats.windows_closed >= closes
    return monitor


def test_complete_real_pima_rows_raise_no_alert_of_medium_or_above(
    stack: Settings, state_dir: Path
) -> None:
    """Before this fix, the first window raised CRITICAL DATA_DRIFT on skin thickness (PSI
    1.056): the reference held Pima.tr2's imputed medians, which no measured stream has."""
    settings = _deployment(stack, state_dir)
    monitor = _real_rows_through_the_scorer(settings, 20_000)
    severe = [a for a in monitor.stats.alerts if a.severity in SEVERE]
    assert not severe, [a.message for a in severe]
    judged = [v for verdicts in monitor.stats.verdicts.values() for v in verdicts]
    skin = [v.psi for v in judged if v.feature == "skin_thickness"]
    # The bug gave 1.056. Clean windows of 1,000 resampled rows scatter around a reference of
    # at most 200 rows (Pima.tr2): in a fresh-clone CI run on 2026-11-29 the 20 windows ranged
    # 0.036-0.102 (one just over the LOW threshold, 0.10, which earlier runs had stayed under).
    # The bound is above that noise, with room, and a fifth of the bug's value.
    assert len(skin) >= 18 and max(skin) < 0.2, skin


def test_a_feature_left_out_of_40_percent_is_a_quality_alert_not_drift(
    stack: Settings, state_dir: Path
) -> None:
    settings = _deployment(stack, state_dir)
    monitor = _real_rows_through_the_scorer(settings, 20_000, missing={"skin_thickness": 0.4})
    alerts = monitor.stats.alerts
    quality = [
        a
        for a in alerts
        if a.kind == "DATA_QUALITY"
        and a.statistic == "missing_rate"
        and a.feature == "skin_thickness"
        and a.status == "FIRING"
    ]
    assert len(quality) >= 1, [a.message for a in alerts]
    assert quality[0].value == pytest.approx(0.4, abs=0.03)
    drift = [a for a in alerts if a.kind in ("DATA_DRIFT", "SCORE_DRIFT")]
    assert not [a for a in drift if a.feature == "skin_thickness"], drift
    assert not [a for a in drift if a.severity in SEVERE], [a.message for a in drift]


def test_a_burst_followed_by_silence_is_judged_within_window_lateness_and_idle_time(
    stack: Settings, state_dir: Path
) -> None:
    """6,000 glucose-shifted records (+0.75 sd) at 2,000/s, then nothing: no later record
    moves event time on, so only idle partitions and the clock can close the window."""
    settings = _deployment(stack, state_dir)
    frame, _ = complete_rows()
    sd = float(frame["glucose"].std())
    rows, _ = resample(6000, np.random.default_rng(11))
    rows["glucose"] = (rows["glucose"] + 0.75 * sd).round().clip(upper=500)
    monitor = Monitor(settings)
    seen: dict[str, float] = {}

    def burst() -> None:
        seen["start"] = time.time()
        records = as_records(rows, int(seen["start"] * 1000), 2000.0, run=uuid.uuid4().hex[:8])
        _publish(settings, records, rate=2000.0)

    def judged() -> bool:
        hits = [
            a
            for a in monitor.stats.alerts
            if a.feature == "glucose" and a.severity in ("HIGH", "CRITICAL")
        ]
        if hits and "alert" not in seen:
            seen["alert"] = time.time()
        return bool(hits)

    bound = WINDOW_S + LATENESS_S + IDLE_S + 10
    _run_until(
        {"scorer": Scorer(settings, instance="dt"), "monitor": monitor},
        # the verdict's time is noted when it comes; the run goes on to count every record
        lambda: judged() and monitor.stats.records >= 6000,
        timeout=bound + 30,
        during=burst,
    )
    assert "alert" in seen, "the burst got no HIGH+ glucose verdict"
    delay = seen["alert"] - seen["start"]
    assert delay <= bound, f"verdict after {delay:.1f} s; bound {bound} s"
    assert monitor.stats.records == 6000


def test_predictions_of_a_version_this_registry_lacks_kill_no_worker(
    stack: Settings, state_dir: Path
) -> None:
    """Predictions naming version 9999, written into the topic while 3,000 records are
    scored: two monitors and a joiner keep running, count what they skip, and exactly one
    MODEL_LOAD alert is raised."""
    settings = _deployment(stack, state_dir)
    rows, _ = resample(3000, np.random.default_rng(5))
    records = as_records(rows, int(time.time() * 1000) - 30_000, RATE, run=uuid.uuid4().hex[:8])

    def traffic() -> None:  # the strangers arrive while the scorer writes its predictions
        writer = threading.Thread(
            target=_write_predictions_of_version_9999, args=(settings, records[0].event_time)
        )
        writer.start()
        _publish(settings, records)
        writer.join(60)

    monitors = [Monitor(settings), Monitor(settings)]
    joiner = Joiner(settings)

    def counted() -> bool:
        skipped = sum(m.stats.skipped.get("model_version_unavailable", 0) for m in monitors)
        return sum(m.stats.records for m in monitors) >= 3000 and skipped >= 300

    _run_until(
        {
            "scorer": Scorer(settings, instance="dt"),
            "monitor-a": monitors[0],
            "monitor-b": monitors[1],
            "joiner": joiner,
        },
        counted,
        timeout=150,
        during=traffic,
    )
    assert sum(m.stats.records for m in monitors) == 3000, [
        (m.stats.records, m.stats.late, m.stats.skipped, m.stats.windows_closed) for m in monitors
    ]
    assert sum(m.stats.skipped.get("model_version_unavailable", 0) for m in monitors) == 300
    metric = sum(
        m.metrics.registry.get_sample_value(
            "riskstream_records_skipped_total", {"reason": "model_version_unavailable"}
        )
        or 0
        for m in monitors
    )
    assert metric == 300
    assert joiner.stats.predictions_cached >= 3300  # the joiner read past them too
    alerts = drain_committed(settings, DRIFT_ALERTS.name, "DriftAlert", expected=1, timeout=30)
    model_load = [a for a in alerts if a["kind"] == "MODEL_LOAD"]
    assert len(model_load) == 1, model_load
    assert model_load[0]["model_version"] == "9999"


def _write_predictions_of_version_9999(settings: Settings, first_event_time: int) -> None:
    """300 predictions naming a version this registry lacks, written into the topic about
    500 a second."""
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    for i in range(300):
        stranger = {
            **SAMPLES["Prediction"],
            "prediction_id": str(uuid.uuid4()),
            "request_id": f"stranger-{i}",
            "patient_ref": f"stranger-{i}",
            "event_time": first_event_time + i * 100,
            "model_version": "9999",
        }
        producer.produce(
            settings.topic(PREDICTIONS.name),
            key=stranger["patient_ref"].encode(),
            value=codec.encode("Prediction", stranger),
        )
        producer.poll(0)
        time.sleep(0.002)
    assert producer.flush(30) == 0
