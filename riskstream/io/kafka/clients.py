"""Producer helpers shared by every worker and command: delivery accounting that is checked."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from riskstream.core.errors import ServiceUnavailableError, TopicError
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.contract import Cadence
from riskstream.io.kafka.deadline import CallDeadline, StalledCallError, close_in_background
from riskstream.io.kafka.factory import idempotent_producer
from riskstream.io.kafka.recovering_producer import RecoveringProducer
from riskstream.schemas import AvroCodec, build_codec
from riskstream.schemas.events import Event

log = logging.getLogger(__name__)


def codec_for(settings: ClusterSettings) -> AvroCodec:
    return build_codec(settings.schema_registry_url, settings.max_payload_bytes)


class DeliveryTally:
    """Counts delivery reports; a failure is kept with its error, never ignored."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            if len(self.errors) < 10:
                self.errors.append(error.str())


def publish_events(
    settings: ClusterSettings,
    topic: str,
    events: Sequence[tuple[bytes | None, Event]],
    timeout: float = 15.0,
) -> DeliveryTally:
    """Produce a few events and wait for every delivery report (control-plane messages). A
    missing topic is named at once, with the command that creates it, rather than found
    out as an undelivered event after the timeout."""
    codec = codec_for(settings)
    producer = idempotent_producer(settings)
    if not _topic_exists(producer, settings.topic(topic)):
        raise TopicError(
            "the topic does not exist",
            topic=settings.topic(topic),
            hint="create the catalog's topics for this prefix: `riskstream topics create`",
        )
    tally = DeliveryTally()
    for key, event in events:
        producer.produce(
            settings.topic(topic), key=key, value=codec.encode_event(event), on_delivery=tally
        )
        producer.poll(0)
    remaining = producer.flush(timeout)
    if remaining or tally.failed:
        raise ServiceUnavailableError(
            f"could not deliver {', '.join(sorted({e.SCHEMA for _, e in events}))} events",
            topic=settings.topic(topic),
            undelivered=remaining,
            failed=tally.failed,
            errors="; ".join(tally.errors),
            hint="is Kafka up? `riskstream stack status`",
        )
    return tally


def broker_answers(client: Producer | RecoveringProducer, topic: str, timeout: float = 0.5) -> bool:
    """Whether the cluster answers a metadata request for ``topic`` now: the monitors ask
    before they take a silent partition for an idle one."""
    try:
        client.list_topics(topic, timeout=timeout)
    except KafkaException:
        return False
    return True


def _topic_exists(client: Producer | RecoveringProducer, topic: str) -> bool:
    try:
        found = client.list_topics(topic, timeout=5).topics.get(topic)
    except KafkaException:
        return True  # cannot tell: let the caller report the delivery failure
    return found is not None and found.error is None and bool(found.partitions)


def next_batch(consumer: Consumer, cadence: Cadence, worker: str) -> list[Message]:
    """The next batch, as ``cadence`` says; a consumer error in it is logged and left out."""
    first = consumer.poll(cadence.wait_s)
    if first is None:
        return []
    wanted = cadence.size - 1
    messages = [first, *(consumer.consume(wanted, cadence.linger_s) if wanted > 0 else [])]
    backlog = len(messages) == cadence.size  # the batch filled: more is waiting
    while backlog and len(messages) < cadence.backlog_size:
        wanted = min(cadence.size, cadence.backlog_size - len(messages))
        more = consumer.consume(wanted, 0)  # what is already fetched; no wait
        messages += more
        backlog = len(more) == wanted
    batch = []
    for message in messages:
        if message.error():
            logging.getLogger(__name__).warning("%s: consumer error %s", worker, message.error())
        else:
            batch.append(message)
    return batch


def replace_consumer(old: Consumer, new: Callable[[], Consumer], why: str, worker: str) -> Consumer:
    """A new consumer in place of one whose group membership is stuck
    (:mod:`riskstream.io.kafka.group_watch`). The old one is closed on a thread of its own:
    a close waits on the same stuck coordinator and must not hold the worker."""
    log = logging.getLogger(__name__)
    log.warning("%s: consumer group membership stuck (%s); replacing the consumer", worker, why)
    close_in_background(old.close, "stuck-consumer")
    return new()


def last_offsets(messages: list[Message]) -> dict[tuple[str, int], int]:
    """The offset of the last of ``messages`` in each (topic, partition)."""
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        where = (m.topic() or "", int(m.partition() or 0))
        last[where] = max(last.get(where, -1), int(m.offset() or 0))
    return last


def start_offsets(
    consumer: Consumer, partitions: list[TopicPartition], worker: str, within_s: float = 30.0
) -> list[TopicPartition]:
    """Where newly assigned ``partitions`` start: the group's committed offset, else the end
    as it is now (so an event published once they are assigned is read, however soon it
    comes). A broker that cannot answer yet (a new topic's leader not elected: "not leader
    for partition") is asked again until ``within_s``; after that a partition starts at the
    end of its first fetch, and the log says so. It never raises: it runs in a rebalance
    callback, where an exception would stop the worker."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            committed = consumer.committed(partitions, timeout=10)
            return [
                TopicPartition(
                    p.topic,
                    p.partition,
                    done.offset
                    if done.offset >= 0
                    else consumer.get_watermark_offsets(p, timeout=10)[1],
                )
                for p, done in zip(partitions, committed, strict=True)
            ]
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                log.warning(
                    "%s: the broker could not say where its partitions start (%s); they "
                    "start at the end of their first fetch",
                    worker,
                    exc,
                )
                return [TopicPartition(p.topic, p.partition, OFFSET_END) for p in partitions]
            time.sleep(0.5)


def rewind(consumer: Consumer, messages: list[Message]) -> None:
    """Seek back to the first of ``messages`` in each partition, so an aborted transaction's
    batch is consumed again."""
    first: dict[tuple[str, int], int] = {}
    for m in messages:
        where = (m.topic() or "", int(m.partition() or 0))
        first[where] = min(first.get(where, int(m.offset() or 0)), int(m.offset() or 0))
    for (topic, partition), offset in first.items():
        consumer.seek(TopicPartition(topic, partition, offset))


def ready_producer(make: Callable[[], Producer], worker: str, calls: CallDeadline) -> Producer:
    """A new transactional producer from ``make``, its transactions initialised. The same id
    fences the old producer's open transaction. Retries until the broker answers."""
    while True:
        producer = make()
        try:
            calls.run("init_transactions", 30, partial(producer.init_transactions, 30))
            return producer
        except (KafkaException, StalledCallError) as exc:
            logging.getLogger(__name__).warning(
                "%s: broker not ready for transactions (%s); retrying", worker, exc
            )
            time.sleep(2)


# How long a commit whose outcome is unknown is retried. A try waits up to 30 s, the
# transaction timeout, and a commit the coordinator received completes within one once a
# broker answers. A producer that lost every broker address (a restarted broker's metadata
# listed none while it was fenced; see group_watch) keeps its commit queued for good, and each
# try times out as retriable: 20 of them held the scorer for 10 minutes in a loaded run of the
# broker-restart test (2026-12-05). After this long the producer is abandoned instead.
COMMIT_RETRY_S = 30.0


def settle_transaction(
    producer: Producer,
    exc: KafkaException,
    committing: bool,
    make: Callable[[], Producer],
    worker: str,
    calls: CallDeadline,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, Producer]:
    """After a failed transaction step: (True, producer) if the batch committed after all (a
    commit whose outcome was unknown, retried), else (False, producer) with the transaction
    aborted, or with a rebuilt producer when the error was fatal or the abort itself failed;
    the caller then rewinds the batch. A broker that is away makes every step fail; this keeps
    the worker alive until it is back. A retried commit or an abort that stalls, or retried
    commits that still fail after ``COMMIT_RETRY_S``, raise :class:`StalledCallError`: the
    caller abandons the producer and asks the group's committed offsets whether it went
    through."""
    log = logging.getLogger(__name__)
    error = exc.args[0]
    log.warning("%s: transaction failed (%s); settling it", worker, error)
    if committing and error.retriable():
        began = clock()
        for _ in range(20):
            if clock() - began >= COMMIT_RETRY_S:
                raise StalledCallError(
                    f"commit_transaction still failed after {COMMIT_RETRY_S:.0f} s of retries",
                    worker=worker,
                    error=str(error),
                    hint="the producer probably lost its brokers; the worker rebuilds it",
                )
            try:
                calls.run("commit_transaction", 30, lambda: producer.commit_transaction(30))
                return True, producer
            except KafkaException as again:
                error = again.args[0]
                if not error.retriable():
                    break
    if not error.fatal():
        try:
            calls.run("abort_transaction", 30, lambda: producer.abort_transaction(30))
            return False, producer
        except KafkaException as again:
            log.warning("%s: abort failed (%s); rebuilding the producer", worker, again.args[0])
    return False, ready_producer(make, worker, calls)
