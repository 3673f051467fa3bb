"""Backtest speed: records per second that `riskstream backtest` reads from Kafka, joins to
their ground truth and scores, for one version and for three."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Echo, deployment
from riskstream.app.tools.backtest import backtest
from riskstream.core.settings import Settings
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator


def _record_traffic(settings: Settings, count: int) -> None:
    """Simulated records an hour old, each with its ground truth."""
    publisher = Publisher(settings)
    sim = Simulator(PimaModel.fit(), Scenario.named("none"), seed=5, run=uuid.uuid4().hex[:6])
    for item in sim.stream(count, int(time.time() * 1000) - 3_600_000):
        publisher.send_record(item.record)
        publisher.send_truth(item.record, item.outcome)
    if publisher.finish(PublishSummary(sent=count), timeout=60).failed:
        raise RuntimeError("the backtest's recorded traffic was not all delivered")


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
