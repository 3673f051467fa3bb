"""Replaying a range of a topic into another: keys, headers, timestamps and the order within
each partition preserved, at a chosen speed, to re-drive the pipeline with recorded traffic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from riskstream.core.errors import RiskstreamError
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.factory import idempotent_producer, reader
from riskstream.io.kafka.patient_keys import ForgottenPatients
from riskstream.io.kafka.reading import (
    Start,
    TopicReadError,
    messages,
    partitions_of,
    span,
)


class ReplayError(RiskstreamError):
    """A replay could not run as asked."""


@dataclass(frozen=True)
class ReplayReport:
    copied: int
    failed: int
    seconds: float
    forgotten: int = 0  # records of erased patients, left out


def plan_size(settings: ClusterSettings, source: str, start: Start, stop: Start | None) -> int:
    consumer = reader(settings)
    try:
        begin, end = span(consumer, source, start, stop)
    finally:
        consumer.close()
    return sum(max(0, end[p] - begin[p]) for p in begin)


def create_like(settings: ClusterSettings, source: str, target: str, partitions: int) -> int:
    """Create a missing replay target with the source's partition count (so each record
    keeps its partition) and 7 days' retention (it copies the clinics' records, ids
    included: erasure reaches a copy made before it when that runs out); returns the
    partition count."""
    from riskstream.core.topics import TopicSpec
    from riskstream.io.kafka.admin import ensure_topics
    from riskstream.schemas.events import Event

    # any event: a replay copies bytes, whatever schema the source carries
    spec = TopicSpec(target, "as the source", Event, f"replay of {source}", partitions=partitions)
    ensure_topics(settings.model_copy(update={"topic_prefix": ""}), [spec])
    return partitions


def replay(
    settings: ClusterSettings,
    source: str,
    target: str,
    start: Start = "beginning",
    stop: Start | None = None,
    speed: float = 0.0,
    on_copy: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Copy ``source[start:stop]`` to ``target``. Each record keeps its key, headers, timestamp
    and partition number (so the order within a partition is kept); ``speed`` 1.0 keeps the
    recorded gaps, 10.0 is ten times faster, 0 is as fast as the broker takes it."""
    _check_or_create_target(settings, source, target)
    producer = idempotent_producer(settings, {"linger.ms": 10})
    failed = 0

    def delivered(err: object, _: object) -> None:
        nonlocal failed
        if err is not None:
            failed += 1

    began = time.monotonic()
    first_ts: int | None = None
    copied = left_out = 0
    # keyed by a patient id (the clinics' topics) or a reference (riskstream's)
    forgotten = ForgottenPatients.read(settings)
    for m in messages(settings, source, start, stop):
        ts = int(m.timestamp()[1])
        if forgotten and forgotten.holds((m.key() or b"").decode(errors="replace"), ts):
            left_out += 1
            continue
        if speed > 0:
            first_ts = ts if first_ts is None else first_ts
            due = began + (ts - first_ts) / 1000 / speed
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        producer.produce(
            target,
            key=m.key(),
            value=m.value(),
            headers=m.headers(),
            timestamp=ts,
            partition=int(m.partition() or 0),
            on_delivery=delivered,
        )
        producer.poll(0)
        copied += 1
        if on_copy is not None:
            on_copy(copied)
    producer.flush(60)
    return ReplayReport(copied, failed, time.monotonic() - began, left_out)


def _check_or_create_target(settings: ClusterSettings, source: str, target: str) -> None:
    """Create ``target`` like ``source`` when it does not exist; refuse one with fewer
    partitions, which could not keep each partition's order."""
    probe = reader(settings)
    try:
        source_parts = len(partitions_of(probe, source))
        try:
            target_parts = len(partitions_of(probe, target))
        except TopicReadError:
            target_parts = create_like(settings, source, target, source_parts)
    finally:
        probe.close()
    if target_parts < source_parts:
        raise ReplayError(
            "the target has fewer partitions than the source, so per-partition order "
            "could not be kept",
            source=f"{source} ({source_parts})",
            target=f"{target} ({target_parts})",
            hint="create the target with at least as many partitions",
        )
