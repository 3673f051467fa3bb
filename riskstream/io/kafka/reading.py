"""Reading a topic to its end (or following it) as a user tool does: ``assign()`` with no
group membership and no commits, so live consumer groups are never rebalanced or moved. The
one such reader: the tools, the trainer's replay of labeled examples and the demo's report
all read through :func:`messages`.

Where to start: ``"end"`` (only what arrives from now on), ``"beginning"``, an epoch
millisecond timestamp (``offsets_for_times``), or explicit offsets per partition.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from riskstream.core.errors import RiskstreamError, ServiceUnavailableError, TopicError
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.admin import partitions_in
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.factory import reader
from riskstream.schemas import CodecError
from riskstream.schemas.events import Event

Start = str | int | dict[int, int]  # "end" | "beginning" | epoch ms | {partition: offset}

E = TypeVar("E", bound=Event)
T = TypeVar("T")


class TopicReadError(RiskstreamError):
    """A topic could not be read (it does not exist, or the broker is away)."""


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    try:
        return partitions_in(consumer.list_topics(topic, timeout=10), topic)
    except TopicError as exc:
        raise TopicReadError(exc.message, hint=exc.hint, **exc.context) from None


def watermarks(consumer: Consumer, tp: TopicPartition, patience_s: float = 15.0) -> tuple[int, int]:
    """A partition's low and high offsets. A topic created a moment ago may have no leader
    yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE): asked again until it has one."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0]
            waiting = error.retriable() or error.code() in LEADERLESS
            if not waiting or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


LEADERLESS = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE})


def resolve(
    consumer: Consumer, topic: str, where: Start, default_end: bool = False
) -> dict[int, int]:
    """Concrete offsets per partition for a start (or stop) position. Explicit offsets
    name their partitions: the others are left out, not read from 0."""
    parts = partitions_of(consumer, topic)
    if isinstance(where, dict):
        unknown = sorted(set(where) - set(parts))
        if unknown:
            raise TopicReadError(
                "offsets name partitions the topic does not have",
                topic=topic,
                partitions=",".join(map(str, unknown)),
                hint=f"the topic has partitions 0-{len(parts) - 1}",
            )
        return {p: int(where[p]) for p in parts if p in where}
    ends = {p: watermarks(consumer, TopicPartition(topic, p)) for p in parts}
    if where == "end":
        return {p: high for p, (_, high) in ends.items()}
    if where == "beginning":
        return {p: low for p, (low, _) in ends.items()}
    if isinstance(where, int):
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, where) for p in parts], timeout=10
        )
        # -1: no record at or after the timestamp: the partition's end
        return {
            tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition][1] for tp in found
        }
    raise ValueError(f"unknown position {where!r}: use end, beginning, epoch ms or offsets")


def span(
    consumer: Consumer, topic: str, start: Start, stop: Start | None
) -> tuple[dict[int, int], dict[int, int]]:
    """(first, end) offsets of the partitions a read covers: all of them, or only those that
    explicit offsets name (at either end)."""
    begin = resolve(consumer, topic, start)
    end = resolve(consumer, topic, "end" if stop is None else stop)
    return {p: o for p, o in begin.items() if p in end}, end


def messages(
    settings: ClusterSettings,
    topic: str,
    start: Start = "end",
    stop: Start | None = None,
    follow: bool = False,
    idle_s: float = 2.0,
) -> Iterator[Message]:
    """Committed messages of ``topic`` from ``start``. Without ``follow`` it ends at ``stop``
    (default: the end offsets when called); with ``follow`` it waits for new ones."""
    consumer = reader(settings)
    try:
        try:
            begin, end = span(consumer, topic, start, stop)
        except KafkaException as exc:
            raise ServiceUnavailableError(
                "Kafka did not answer while finding where to read",
                topic=topic,
                bootstrap=settings.kafka_bootstrap,
                error=exc.args[0].str() if exc.args else str(exc),
                hint="start the local stack with `riskstream stack up`, or point "
                "RISKSTREAM_KAFKA_BOOTSTRAP at a running cluster",
            ) from None
        consumer.assign(
            [TopicPartition(topic, p, o if o >= 0 else OFFSET_BEGINNING) for p, o in begin.items()]
        )
        pending = {p for p in begin if follow or begin[p] < end[p]}
        quiet = time.monotonic()
        while pending:
            batch = consumer.consume(500, 0.5)
            if not batch and not follow and time.monotonic() - quiet > idle_s:
                break  # what remains below the end offsets are transaction markers
            for m in batch:
                if m.error():
                    continue
                quiet = time.monotonic()
                p, offset = int(m.partition() or 0), int(m.offset() or 0)
                if not follow and offset >= end[p]:
                    pending.discard(p)
                    continue
                yield m
                if not follow and offset + 1 >= end[p]:
                    pending.discard(p)
            if not follow and pending:
                pending -= _passed(consumer, topic, pending, end)
    finally:
        consumer.close()


def _passed(consumer: Consumer, topic: str, pending: set[int], end: dict[int, int]) -> set[int]:
    """The partitions whose position has reached their end offset. A transactional topic
    ends in a commit marker, which is never handed over as a message: the position steps
    past it, so the read ends at once rather than after ``idle_s`` of quiet."""
    asked = [TopicPartition(topic, p) for p in pending]
    return {tp.partition for tp in consumer.position(asked) if tp.offset >= end[tp.partition]}


def read_events(
    settings: ClusterSettings,
    topic: str,
    kind: type[E],
    start: Start = "end",
    *,
    follow: bool = False,
    skipped: Counter[str] | None = None,
) -> Iterator[E]:
    """The events of ``topic``, typed. A message that does not decode is counted in
    ``skipped`` by reason (report it at the end) and reading goes on: one bad message in a
    topic must not hide every good one after it."""
    codec = codec_for(settings)
    for m in messages(settings, topic, start, follow=follow):
        try:
            yield codec.decode_event(m.value(), kind)
        except CodecError as exc:
            if skipped is not None:
                skipped[exc.reason] += 1


def skipped_summary(skipped: Counter[str], what: str) -> str | None:
    """One line for the end of a read: how many messages were skipped, and why."""
    if not skipped:
        return None
    reasons = ", ".join(f"{reason} {count}" for reason, count in skipped.most_common())
    return (
        f"skipped {sum(skipped.values())} message(s) of {what} that do not decode ({reasons}); "
        "see the producer that wrote them"
    )
