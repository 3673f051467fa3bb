"""Every worker's ops endpoints, scraped from real worker processes: /health, /ready and the
Prometheus metrics the dashboards need."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import PATIENT_RECORDS
from riskstream.io.kafka.clients import codec_for
from tests.integration.conftest import deployment_with_champion, process_env
from tests.integration.servers import free_port, http_get, metric_samples, metric_value
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def test_scorer_and_monitor_serve_health_readiness_and_metrics(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(stack, "ops", tmp_path)
    _publish_good_and_empty_records(settings, good=200, empty=3)
    ports = {"scorer": free_port(), "monitor": free_port()}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "riskstream.app.cli.main", "run", name, "--ops-port", str(port)],
            env=process_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, port in ports.items()
    }
    try:
        scorer = f"http://127.0.0.1:{ports['scorer']}"
        monitor = f"http://127.0.0.1:{ports['monitor']}"
        _assert_the_scorers_metrics_count_203_records(scorer)
        assert http_get(f"{scorer}/health") == (200, "ok\n")
        assert http_get(f"{scorer}/ready") == (200, "ready\n")
        assert http_get(f"{scorer}/nothing")[0] == 404

        def counted() -> float | None:
            status, text = http_get(f"{monitor}/metrics")
            n = metric_value(
                metric_samples(text), "riskstream_records_in_total", processor="monitor"
            )
            return n if status == 200 and (n or 0) >= 203 else None  # predictions, dead letters

        assert eventually(counted, 60, "the monitor's count of 203 records", every=0.5) == 203
        assert http_get(f"{monitor}/health") == (200, "ok\n")
        # ready again after its next timer step: a step that met Redis busy (a slow CI host)
        # reports not ready until one succeeds, which is what /ready is for
        ready = (200, "ready\n")
        eventually(lambda: http_get(f"{monitor}/ready") == ready, 30, "the monitor ready")
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            assert proc.wait(30) == 0, f"{name}: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]


def _publish_good_and_empty_records(settings: Settings, good: int, empty: int) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    for i in range(good):
        record = {**SAMPLES["PatientRecord"], "request_id": f"r{i}", "patient_id": f"p{i}"}
        producer.produce(
            settings.topic(PATIENT_RECORDS.name),
            key=f"p{i}".encode(),
            value=codec.encode("PatientRecord", record),
        )
    for _ in range(empty):
        producer.produce(settings.topic(PATIENT_RECORDS.name), key=b"p0", value=b"")
    assert producer.flush(30) == 0


def _assert_the_scorers_metrics_count_203_records(scorer: str) -> None:
    """200 scored and 3 dead-lettered, as counted on the scorer's /metrics."""

    def scored() -> dict:
        status, text = http_get(f"{scorer}/metrics")
        samples = metric_samples(text) if status == 200 else {}
        done = metric_value(samples, "riskstream_records_in_total", processor="scorer") or 0
        has_lag = any(name == "riskstream_consumer_lag" for name, _ in samples)
        return samples if done >= 203 and has_lag else {}

    samples = eventually(scored, 120, "the scorer's metrics of 203 records", every=0.5)
    assert metric_value(samples, "riskstream_records_in_total", processor="scorer") == 203
    out = metric_value(
        samples, "riskstream_records_out_total", processor="scorer", topic="predictions"
    )
    assert out == 200
    dead = metric_value(
        samples, "riskstream_dead_letters_total", processor="scorer", reason="empty_payload"
    )
    assert dead == 3
    assert metric_value(samples, "riskstream_scoring_latency_seconds_count") == 200
    assert metric_value(samples, "riskstream_model_version", processor="scorer") == 1
    lags = [v for (name, _), v in samples.items() if name == "riskstream_consumer_lag"]
    assert lags and min(lags) >= 0
