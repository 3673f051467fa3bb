"""The scorer's scale-out (`riskstream run scorer --processes N`) at N = 1 and 2, measured in
steady state: the group is up and owns every partition before the records arrive.

The throughput benchmark starts its scorer on records already waiting, which suits one
process; N processes started on a backlog spend the first seconds in start-up and a
rebalance (the first to join takes every partition, then gives half away), and on 50,000
records (3 s of work) that transient was the whole difference: 2 processes measured no faster
than one there, and 1.75x on 250,000 records. Here the records are copied, already encoded,
from the throughput topic by a raw producer (several times the scorer's rate, so a backlog
forms at once) after every process holds its partitions. The throughput topic's records
are sent ``REPEAT`` times over: since the columnar hot path (2026-12-04) two processes
finished 50,000 records in 0.45 s, of which the copying producer's own 0.2 s on the same two
cores was a third, which left no steady state to measure (1.60x on 50,000 records).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

from bench.common import (
    Echo,
    end_offsets,
    median,
    rate_of,
    read_messages,
    read_timestamps,
    run_argv,
    start_group_at_end,
    wait_until_group_owns,
    workers,
)
from riskstream.core.settings import Settings
from riskstream.core.topics import PATIENT_RECORDS, PREDICTIONS
from riskstream.stream_processors.scorer import GROUP as SCORER_GROUP

REPEAT = 5  # times the throughput records are sent: a few seconds of work at N = 2


def recorded(settings: Settings, count: int) -> list[tuple[bytes | None, bytes | None]]:
    """The first ``count`` records of patient-records, as they are on the wire."""
    topic = settings.topic(PATIENT_RECORDS.name)
    start = dict.fromkeys(end_offsets(settings, topic), 0)
    out = [(m.key(), m.value()) for m in read_messages(settings, topic, start, count, 60)]
    if len(out) < count:
        raise RuntimeError(f"read {len(out)} of {count} records to copy")
    return out[:count]


def steady_run(
    settings: Settings, copies: list[tuple[bytes | None, bytes | None]], processes: int
) -> float:
    """Records per second of ``processes`` scorers over ``copies``, sent once the group owns
    every partition."""
    topic = settings.topic(PATIENT_RECORDS.name)
    predictions = settings.topic(PREDICTIONS.name)
    start_group_at_end(settings, SCORER_GROUP, [topic])
    since = end_offsets(settings, predictions)
    argv = run_argv("scorer", "--processes", str(processes))
    with workers(settings, scorer=argv):
        wait_until_group_owns(
            settings, SCORER_GROUP, processes, settings.topic_partitions, timeout=120
        )
        # room for every copy: the records are all sent at once, as a backlog, so the
        # scorers, not this producer's wait for acks, set the pace (with librdkafka's 100,000
        # the 2-process runs of a slow hour were held to the producer's ~70k records/s)
        producer = Producer(
            settings.kafka_config({"linger.ms": 5, "queue.buffering.max.messages": len(copies)})
        )
        for key, value in copies:
            producer.produce(topic, key=key, value=value)
            producer.poll(0)
        producer.flush(60)
        stamps = read_timestamps(settings, predictions, since, len(copies), 120 + len(copies) / 500)
    if len(stamps) < len(copies):
        raise RuntimeError(f"{processes} scorer(s) produced {len(stamps)} of {len(copies)}")
    return rate_of(stamps)


def measure(settings: Settings, echo: Echo, *, records: int, repeats: int) -> dict[str, Any]:
    """Run after the throughput benchmark, on its deployment (its records and champion)."""
    copies = recorded(settings, records) * REPEAT
    runs: dict[str, list[float]] = {"1": [], "2": []}
    for run in range(1, repeats + 1):
        for n in runs:
            runs[n].append(steady_run(settings, copies, int(n)))
        echo(
            f"scale-out run {run}/{repeats}: "
            + ", ".join(f"{n}p {v[-1]:,.0f}/s" for n, v in runs.items())
        )
    med = {n: median(v) for n, v in runs.items()}
    return {
        "records": len(copies),
        "partitions": settings.topic_partitions,
        "runs": runs,
        "median_rps": med,
        "ratio_2_over_1": med["2"] / med["1"] if med["1"] else 0.0,
    }
