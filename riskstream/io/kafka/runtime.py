"""The exactly-once engine of the worker contract (:mod:`riskstream.io.kafka.contract`): scorer,
joiner, trainer.

:class:`TransactionalRuntime` owns what a worker does not, as quix-streams' ``Checkpoint``
does: the consumer, the transactional producer, the batch loop, the offsets and the
settle-on-failure path. Each batch's outputs and its input offsets commit
in one Kafka transaction, so `read_committed` readers see a batch's events exactly once. A
batch that does not commit is consumed again: the consumer seeks back to its first offsets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.clients import (
    codec_for,
    last_offsets,
    next_batch,
    ready_producer,
    replace_consumer,
    rewind,
    settle_transaction,
)
from riskstream.io.kafka.contract import (
    RETRY_LATER,
    RETRY_S,
    Batch,
    Cadence,
    Worker,
    attempt,
    placed,
    wire_value,
)
from riskstream.io.kafka.deadline import CallDeadline, StalledCallError, close_in_background
from riskstream.io.kafka.factory import group_consumer, transactional_producer
from riskstream.io.ops import WorkerMetrics

log = logging.getLogger(__name__)
# Timeouts of the tries at the group's committed offsets after a stalled commit: the worker's
# consumer answers in milliseconds when it can, so its try is short; the later tries go to a
# new consumer (see _offsets_committed) and wait as long as a transaction may take.
ASK_COMMITTED_S = (10.0, 30.0, 30.0)
QUEUE_FULL_RETRIES = 100  # x QUEUE_FULL_WAIT_S: how long a full producer queue is waited on
QUEUE_FULL_WAIT_S = 0.1


@dataclass(frozen=True)
class Clients:
    """Where a runtime gets its consumer and its transactional producers (a new one replaces
    a producer that failed for good): the group's real clients, or fakes in unit tests."""

    consumer: Callable[[], Consumer]
    producer: Callable[[], Producer]

    @classmethod
    def of(
        cls,
        settings: ClusterSettings,
        group: str,
        instance: str,
        consumer_config: dict[str, Any],
        producer_config: dict[str, Any],
    ) -> Clients:
        return cls(
            consumer=partial(group_consumer, settings, group, consumer_config),
            producer=partial(transactional_producer, settings, group, instance, producer_config),
        )


class TransactionalRuntime:
    """Consume → process → produce + send offsets → commit, with one producer per instance.

    A batch whose worker raised one of ``RETRY_LATER`` is rolled back and consumed again
    a second later rather than crashing the worker.
    """

    def __init__(
        self,
        settings: ClusterSettings,
        group: str,
        instance: str,
        topics: Sequence[str],
        metrics: WorkerMetrics,
        *,
        cadence: Cadence = Cadence(),
        consumer_config: dict[str, Any] | None = None,
        producer_config: dict[str, Any] | None = None,
        clients: Clients | None = None,
        calls: CallDeadline | None = None,
    ) -> None:
        self.settings = settings
        self.name = group.removeprefix("riskstream-")
        self.topics = [settings.topic(t) for t in topics]
        self.metrics = metrics
        self.cadence = cadence
        self.codec = codec_for(settings)
        self.clients = clients or Clients.of(
            settings,
            group,
            instance,
            {**(consumer_config or {}), **metrics.consumer_config()},
            producer_config or {},
        )
        self.calls = calls or CallDeadline(self.name)
        self._full_names: dict[str, str] = {}

    def start(self) -> None:
        """Create the consumer, and a producer that fenced any predecessor's open
        transaction; call before :meth:`run`."""
        self.consumer = self.clients.consumer()
        self.producer = ready_producer(self.clients.producer, self.name, self.calls)

    def run(self, worker: Worker[Message], stop: threading.Event) -> None:
        """Hand ``worker`` batches (or ticks) until ``stop`` is set; always closes the
        consumer."""
        self.consumer.subscribe(self.topics, **self.metrics.rebalance_callbacks())
        log.info("%s: consuming %s", self.name, ", ".join(self.topics))
        self.metrics.ready = True
        try:
            while not stop.is_set():
                self.metrics.beat()
                if (stuck := self.metrics.group.stuck()) is not None:
                    self.consumer = replace_consumer(
                        self.consumer, self._subscribed, stuck, self.name
                    )
                    self.metrics.group.reset()
                messages = next_batch(self.consumer, self.cadence, self.name)
                done, _ = attempt(partial(self.process_once, worker, messages), self.name)
                if not done:
                    if messages:
                        rewind(self.consumer, messages)
                    stop.wait(RETRY_S)
        finally:
            self.consumer.close()

    def _subscribed(self) -> Consumer:
        consumer = self.clients.consumer()
        consumer.subscribe(self.topics, **self.metrics.rebalance_callbacks())
        return consumer

    def process_once(self, worker: Worker[Message], messages: list[Message]) -> bool:
        """One batch (or, with no message, one tick) through ``worker`` and one transaction.
        True once it committed; False if it was rolled back and the consumer rewound to be
        handed it again."""
        batch = worker.process(messages) if messages else worker.tick()
        if batch is None:
            return True
        if not messages and batch.empty:
            if batch.after_commit:
                batch.after_commit()
            return True
        if not self._commit(batch, messages):
            rewind(self.consumer, messages)
            return False
        if batch.after_commit:
            batch.after_commit()
        return True

    def _commit(self, batch: Batch, messages: list[Message]) -> bool:
        committing = False
        producer = self.producer
        try:
            producer.begin_transaction()
            for out in batch.outputs:
                value = wire_value(out, self.codec)
                _produce(producer, self._topic(out.topic.name), out.key, value, placed(out))
            producer.poll(0)
            positions = self.consumer.position(self.consumer.assignment())
            group = self.consumer.consumer_group_metadata()
            self.calls.run(
                "send_offsets_to_transaction",
                30,
                lambda: producer.send_offsets_to_transaction(positions, group, 30),
            )
            if batch.before_commit:
                batch.before_commit()
            committing = True
            self.calls.run("commit_transaction", 30, lambda: producer.commit_transaction(30))
        except KafkaException as exc:
            try:
                committed, self.producer = settle_transaction(
                    producer, exc, committing, self.clients.producer, self.name, self.calls
                )
            except StalledCallError as stalled:
                return self._abandon(stalled, committing, messages)
            return committed
        except StalledCallError as stalled:
            return self._abandon(stalled, committing, messages)
        except RETRY_LATER:
            try:
                self.calls.run("abort_transaction", 30, lambda: producer.abort_transaction(30))
            except (KafkaException, StalledCallError) as exc:  # consumed again either way
                log.warning("%s: abort failed (%s); rebuilding the producer", self.name, exc)
                self.producer = ready_producer(self.clients.producer, self.name, self.calls)
            raise
        return True

    def _abandon(
        self, stalled: StalledCallError, committing: bool, messages: list[Message]
    ) -> bool:
        """Replace a producer stuck in a call; its open transaction is fenced by the new one.
        A stuck commit may have gone through: the group's committed offsets say whether."""
        log.warning("%s: %s; rebuilding the producer", self.name, stalled)
        self.producer = ready_producer(self.clients.producer, self.name, self.calls)
        return committing and self._offsets_committed(messages)

    def _offsets_committed(self, messages: list[Message]) -> bool:
        """Whether the group's committed offsets have passed every one of ``messages``: a
        transaction commits its offsets with its outputs, so this tells whether it committed.
        When the broker cannot say, False: the batch is consumed again, since a duplicate
        that ``read_committed`` readers see is better than a lost batch."""
        last = last_offsets(messages)
        if not last:
            return False
        wanted = [TopicPartition(topic, partition) for topic, partition in last]
        asked, fresh = self.consumer, None
        try:
            for timeout in ASK_COMMITTED_S:
                try:
                    ask = partial(asked.committed, wanted, timeout=timeout)
                    committed = self.calls.run("committed", timeout, ask)
                except (KafkaException, StalledCallError) as exc:
                    log.warning("%s: committed offsets unknown (%s)", self.name, exc)
                    # the worker's consumer may have lost its brokers with the producer
                    # (group_watch): a new one bootstraps; it needs the group id, not a seat
                    asked = fresh = fresh or self.clients.consumer()
                    continue
                return all(tp.offset > last[(tp.topic, tp.partition)] for tp in committed)
        finally:
            if fresh is not None:
                close_in_background(fresh.close, "committed-offsets-consumer")
        log.error("%s: could not tell whether a stuck commit went through; re-consuming", self.name)
        return False

    def _topic(self, name: str) -> str:
        full = self._full_names.get(name)
        if full is None:
            full = self._full_names[name] = self.settings.topic(name)
        return full


def _produce(
    producer: Producer, topic: str, key: bytes | None, value: bytes, partition: int
) -> None:
    """One record into the open transaction. Delivery reports are served once per batch,
    not per record (a poll per record cost about 4 us of a record's 45 under backlog); a
    full local queue is served and the record tried again, and one that stays full fails
    the batch as any refused produce does (aborted, consumed again)."""
    for _ in range(QUEUE_FULL_RETRIES):
        try:
            producer.produce(topic, key=key, value=value, partition=partition)
            return
        except BufferError:
            producer.poll(QUEUE_FULL_WAIT_S)
    raise KafkaException(KafkaError(KafkaError._QUEUE_FULL, "producer queue stayed full"))
