"""The at-least-once engine of the worker contract (:mod:`riskstream.io.kafka.contract`) on
confluent-kafka: the notifier, the online learner and the model follower.

Per batch, in this order: the worker's ``process`` (its effects), its outputs delivered and
flushed, ``before_commit``, then the offsets, then ``after_commit``. Where the offsets go is
the source's: a :class:`GroupSource` commits them to the deployment's group; an
:class:`AssignedSource` reads partitions it was given from offsets the worker keeps in a
checkpoint of its own (the learner's snapshot) or needs none (the model follower), and
commits nothing. A worker stopped or killed before the commit is handed the batch again, so
its effects must be idempotent (the notifier's sent-keys in Redis). A batch whose outputs
were not all delivered is not committed: the consumer rewinds and it is processed again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer
from confluent_kafka import TopicPartition as Partition

from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.clients import (
    DeliveryTally,
    codec_for,
    last_offsets,
    next_batch,
    replace_consumer,
    rewind,
)
from riskstream.io.kafka.contract import (
    Cadence,
    Output,
    Worker,
    placed,
    retry_while_unavailable,
    wire_value,
)
from riskstream.io.kafka.factory import group_consumer, idempotent_producer, reader
from riskstream.io.kafka.recovering_producer import RecoveringProducer
from riskstream.io.ops import WorkerMetrics

log = logging.getLogger(__name__)
OnAssign = Callable[[Consumer, list[Partition]], None]


class Source(Protocol):
    """Where an engine's records come from, and whether their offsets are committed."""

    @property
    def commits(self) -> bool: ...

    def open(self, metrics: WorkerMetrics) -> Consumer: ...


@dataclass(frozen=True)
class GroupSource:
    """The deployment's consumer group for ``topics`` (catalog names); offsets are committed
    after each batch. ``on_assign`` may set where newly assigned partitions start (it must
    call ``consumer.assign``)."""

    settings: ClusterSettings
    group: str
    topics: Sequence[str]
    config: Mapping[str, Any] = field(default_factory=dict)
    on_assign: OnAssign | None = None
    commits: bool = True

    def open(self, metrics: WorkerMetrics) -> Consumer:
        consumer = group_consumer(
            self.settings, self.group, {**self.config, **metrics.consumer_config()}
        )
        callbacks = metrics.rebalance_callbacks()
        if self.on_assign is not None:
            counted, own = callbacks["on_assign"], self.on_assign

            def assigned(c: Consumer, partitions: list[Partition]) -> None:
                own(c, partitions)
                counted(c, partitions)

            callbacks["on_assign"] = assigned
        consumer.subscribe([self.settings.topic(t) for t in self.topics], **callbacks)
        return consumer


@dataclass(frozen=True)
class AssignedSource:
    """Every partition of one topic (full name), read without a group from ``start``
    (partition → offset; ``default`` elsewhere); nothing is committed."""

    settings: ClusterSettings
    topic: str
    start: Mapping[int, int] = field(default_factory=dict)
    default: int = OFFSET_BEGINNING
    commits: bool = False

    def open(self, metrics: WorkerMetrics) -> Consumer:
        consumer = reader(self.settings)
        partitions = consumer.list_topics(self.topic, timeout=30).topics[self.topic].partitions
        consumer.assign(
            [Partition(self.topic, p, self.start.get(p, self.default)) for p in partitions]
        )
        metrics.assigned_partitions.set(len(partitions))
        return consumer


class AtLeastOnceRuntime:
    """Consume → process → deliver outputs → commit offsets, for one worker. ``producer``
    makes the producer of the workers' outputs, when the first one comes (default: an
    idempotent producer)."""

    def __init__(
        self,
        settings: ClusterSettings,
        name: str,
        metrics: WorkerMetrics,
        source: Source,
        *,
        cadence: Cadence = Cadence(),
        producer: Callable[[], Producer] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.metrics = metrics
        self.source = source
        self.cadence = cadence
        self.outputs = OutputSender(settings, name, producer)
        self.consumer: Consumer | None = None

    def run(self, worker: Worker[Message], stop: threading.Event) -> None:
        """Hand ``worker`` batches (or ticks) until ``stop`` is set; always closes the
        consumer. A batch a dependency held up is tried again every second; a stop meanwhile
        leaves it uncommitted, to be read again."""
        consumer = self.consumer = self.source.open(self.metrics)
        self.metrics.ready = True
        try:
            while not stop.is_set():
                self.metrics.beat()
                if (stuck := self.metrics.group.stuck()) is not None:
                    opened = partial(self.source.open, self.metrics)
                    consumer = self.consumer = replace_consumer(consumer, opened, stuck, self.name)
                    self.metrics.group.reset()
                messages = next_batch(consumer, self.cadence, self.name)
                step = partial(self.process_once, worker, messages)
                done, _ = retry_while_unavailable(step, self.name, stop, "the batch")
                if not done:
                    break
        finally:
            consumer.close()
            self.outputs.close()

    def process_once(self, worker: Worker[Message], messages: list[Message]) -> bool:
        """One batch (or, with no message, one tick) through ``worker``. True once its
        offsets are committed (or kept by the worker); False if an output was not delivered
        and the consumer rewound to hand the batch again."""
        batch = worker.process(messages) if messages else worker.tick()
        if batch is not None and not self.outputs.delivered(batch.outputs):
            if messages and self.consumer is not None:
                rewind(self.consumer, messages)
            return False
        if batch is not None and batch.before_commit:
            batch.before_commit()
        if messages and self.source.commits:
            self._commit(messages)
        if batch is not None and batch.after_commit:
            batch.after_commit()
        return True

    def _commit(self, messages: list[Message]) -> None:
        """The offset after the batch's last record in each partition. A commit the group
        refuses (a rebalance took the partition) is logged: the new owner reads the batch
        again, which at least once allows."""
        assert self.consumer is not None
        offsets = [Partition(t, p, last + 1) for (t, p), last in last_offsets(messages).items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("%s: offsets not committed (%s); they are read again", self.name, exc)


class OutputSender:
    """Delivers a batch's outputs with an idempotent producer, made when the first one comes
    (``producer`` makes it; default: the factory's)."""

    def __init__(
        self,
        settings: ClusterSettings,
        name: str,
        producer: Callable[[], Producer | RecoveringProducer] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.codec = codec_for(settings)
        self._make_producer = producer or partial(idempotent_producer, settings)
        self._producer: Producer | RecoveringProducer | None = None

    def delivered(self, outputs: list[Output[Any]]) -> bool:
        """Whether every one of ``outputs`` was delivered (the producer flushed)."""
        if not outputs:
            return True
        if self._producer is None:
            self._producer = self._make_producer()
        producer, tally = self._producer, DeliveryTally()
        try:
            for out in outputs:
                value = wire_value(out, self.codec)
                topic = self.settings.topic(out.topic.name)
                producer.produce(
                    topic, key=out.key, value=value, on_delivery=tally, partition=placed(out)
                )
                producer.poll(0)
        except (KafkaException, BufferError) as exc:  # refused before it was sent
            tally.failed += 1
            tally.errors.append(str(exc))
        remaining = producer.flush(30)
        if remaining or tally.failed:
            log.warning(
                "%s: %d of %d outputs not delivered (%s); they are sent again",
                self.name,
                remaining + tally.failed,
                len(outputs),
                "; ".join(tally.errors) or "flush timed out",
            )
            return False
        return True

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
