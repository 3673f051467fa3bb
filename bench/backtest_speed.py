"""Backtest speed: records per second that `riskstream backtest` reads from Kafka, joins to
their ground truth and scores, for one version and for three."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench.common import Echo, deployment
from models.registry import CHAMPION, Registry
from producers.simulator import PimaModel, Scenario, Simulator
from riskstream.kafka.clients import codec_for, new_id
from riskstream.settings import Settings
from riskstream.tools.backtest import backtest
from riskstream.topics import GROUND_TRUTH, PATIENT_RECORDS


def _record_traffic(settings: Settings, count: int) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 20, "batch.size": 1_000_000}))
    sim = Simulator(PimaModel.fit(), Scenario.named("none"), seed=5, run=uuid.uuid4().hex[:6])
    start = int(time.time() * 1000) - 3_600_000
    for item in sim.stream(count, start):
        r = item.record
        key = r["patient_id"].encode()
        producer.produce(
            settings.topic(PATIENT_RECORDS.name), key=key, value=codec.encode("PatientRecord", r)
        )
        truth = {
            "label_id": new_id(),
            "request_id": r["request_id"],
            "patient_id": r["patient_id"],
            "event_time": r["event_time"] + 60_000,
            "outcome": item.outcome,
            "source": "bench",
        }
        producer.produce(
            settings.topic(GROUND_TRUTH.name), key=key, value=codec.encode("GroundTruth", truth)
        )
        producer.poll(0)
    producer.flush(60)


def measure(base: Settings, workdir: Path, echo: Echo, *, records: int) -> dict[str, Any]:
    settings = deployment(base, "bb", workdir / "backtest")
    registry = Registry(settings)
    model = registry.load(CHAMPION)
    extra = [
        registry.log_and_register(model, params={"copy": i}, metrics={}, tags={})[1] for i in (1, 2)
    ]
    echo(f"backtest: recording {records} records and their labels")
    _record_traffic(settings, records)
    results: dict[str, Any] = {"records": records}
    for label, refs in (("one_version", ["champion"]), ("three_versions", ["champion", *extra])):
        began = time.monotonic()
        result = backtest(settings, refs, "beginning")
        seconds = time.monotonic() - began
        results[label] = {
            "versions": len(refs),
            "records": result.records,
            "seconds": round(seconds, 2),
            "records_per_second": result.records / seconds,
        }
        echo(f"backtest, {label}: {result.records / seconds:,.0f} records/s ({seconds:.1f} s)")
    return results
