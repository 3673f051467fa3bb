"""End-to-end latency at a held offered load: from the moment a record is produced to the
moment its prediction is readable by a read_committed consumer (the latency a user sees,
transaction commit included). Every prediction is a sample; percentiles are exact order
statistics over all of them (no averaging, no histogram bucketing)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from bench.common import Echo, deployment, end_offsets, run_argv, workers
from riskstream.core.settings import Settings
from riskstream.core.topics import PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator


def _collect(
    settings: Settings, since: dict[int, int], stop: threading.Event, out: list[float]
) -> None:
    codec = codec_for(settings)
    topic = settings.topic(PREDICTIONS.name)
    consumer = Consumer(
        settings.kafka_config(
            {
                "group.id": f"bench-lat-{uuid.uuid4().hex}",
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 5,
            }
        )
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in since.items()])
    while not stop.is_set():
        # poll returns on the first message; consume(n, 0) drains what is fetched. (A
        # consume(n, timeout) would wait for n messages and add its wait to every sample.)
        first = consumer.poll(0.05)
        for m in [first, *consumer.consume(1000, 0)] if first is not None else []:
            if m.error():
                continue
            seen = time.time() * 1000
            sent = codec.decode(m.value(), "Prediction")["event_time"].timestamp() * 1000
            out.append(seen - sent)
    consumer.close()


def _offer(settings: Settings, rate: float, seconds: float) -> int:
    """Produce at ``rate`` records/s for ``seconds``, each stamped with its send time."""
    # connected before the clock starts: a producer made by the first send stalled it for
    # about a second, and the records queued behind the stall went out as one burst, which
    # doubled p99 at 1k/s (45 → 90-114 ms, same machine, same hour)
    publisher = Publisher(settings).connect()
    count = int(rate * seconds)
    records = [
        s.record
        for s in Simulator(PimaModel.fit(), Scenario(), seed=3, run=uuid.uuid4().hex[:6]).stream(
            count, 0
        )
    ]
    began = time.monotonic()
    for i, record in enumerate(records):
        due = began + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        publisher.send_record(replace(record, event_time=int(time.time() * 1000)))
    publisher.finish(PublishSummary(sent=count))
    return count


def measure(
    base: Settings, workdir: Path, echo: Echo, *, rates: list[int], seconds: float
) -> dict[str, Any]:
    settings = deployment(base, "bl", workdir / "latency")
    return {"seconds": seconds, "loads": held_loads(settings, echo, rates, seconds)}


def held_loads(
    settings: Settings, echo: Echo, rates: list[int], seconds: float
) -> dict[str, dict[str, Any]]:
    """A scorer process of ``settings``; each rate offered for ``seconds``: its percentiles."""
    loads: dict[str, dict[str, Any]] = {}
    with workers(settings, scorer=run_argv("scorer")):
        time.sleep(8)  # the scorer loads its model and joins the group
        for rate in rates:
            since = end_offsets(settings, settings.topic(PREDICTIONS.name))
            samples: list[float] = []
            stop = threading.Event()
            reader = threading.Thread(target=_collect, args=(settings, since, stop, samples))
            reader.start()
            time.sleep(1)
            echo(f"latency: offering {rate}/s for {seconds:.0f} s")
            sent = _offer(settings, rate, seconds)
            deadline = time.monotonic() + 30
            while len(samples) < sent and time.monotonic() < deadline:
                time.sleep(0.2)
            stop.set()
            reader.join(10)
            values = np.array(samples)
            p50, p95, p99, p999 = (
                np.percentile(values, [50, 95, 99, 99.9]) if len(values) else [np.nan] * 4
            )
            loads[str(rate)] = {
                "offered_rps": rate,
                "sent": sent,
                "received": len(samples),
                "p50_ms": float(p50),
                "p95_ms": float(p95),
                "p99_ms": float(p99),
                "p999_ms": float(p999),
                "max_ms": float(values.max()) if len(values) else float("nan"),
            }
            echo(
                f"latency at {rate}/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms "
                f"({len(samples)}/{sent} predictions)"
            )
    return loads
