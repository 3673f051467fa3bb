"""The transactional runtime's commit, settle and abandon paths, with fake clients (as
quix-streams tests its checkpoint): which transaction calls are made, whether the batch counts
as committed, and where the consumer is rewound to. The fault tests prove the same paths
against a real broker; these reach every branch in a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from riskstream.kafka.deadline import StalledCallError
from riskstream.kafka.runtime import Batch, Cadence, Clients, Output, TransactionalRuntime
from riskstream.ops import WorkerMetrics
from riskstream.schemas.events import GroundTruth
from riskstream.settings import Settings
from riskstream.topics import GROUND_TRUTH

T = TypeVar("T")
TOPIC = "t.patient-records"


@dataclass
class FakeMessage:
    _offset: int
    _partition: int = 0
    _topic: str = TOPIC

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


@dataclass
class FakeConsumer:
    queued: list[FakeMessage] = field(default_factory=list)
    seeks: list[tuple[str, int, int]] = field(default_factory=list)
    committed_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    closed: bool = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics

    def poll(self, timeout: float) -> FakeMessage | None:
        return self.queued.pop(0) if self.queued else None

    def consume(self, size: int, timeout: float) -> list[FakeMessage]:
        taken, self.queued = self.queued[:size], self.queued[size:]
        return taken

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, 0)]

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return partitions

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def committed(self, wanted: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), -1)
            )
            for tp in wanted
        ]

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    """Records every call; ``fail`` maps a call's name to the errors its next calls raise."""

    fail: dict[str, list[BaseException]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    produced: list[tuple[str, bytes | None]] = field(default_factory=list)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        errors = self.fail.get(name)
        if errors:
            raise errors.pop(0)

    def init_transactions(self, timeout: float) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> None:
        self._call("produce")
        self.produced.append((topic, key))

    def poll(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, positions: Any, group: Any, timeout: float) -> None:
        self._call("send_offsets")

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort")


class ImmediateCalls:
    """A ``CallDeadline`` that runs calls inline, and stalls the ones it is told to."""

    def __init__(self, stall: set[str] | None = None) -> None:
        self.stall = stall or set()

    def run(self, what: str, timeout_s: float, call: Callable[[], T]) -> T:
        if what in self.stall:
            self.stall.discard(what)
            raise StalledCallError(f"{what} did not return", worker="test")
        return call()


class RedisDown(Exception):
    pass


def kafka_error(*, retriable: bool = False, fatal: bool = False) -> KafkaException:
    return KafkaException(
        KafkaError(KafkaError._TIMED_OUT, "broker away", fatal=fatal, retriable=retriable)
    )


@dataclass
class Rig:
    runtime: TransactionalRuntime
    consumer: FakeConsumer
    producers: list[FakeProducer]

    @property
    def producer(self) -> FakeProducer:
        return self.producers[-1]


def rig(*fail: tuple[str, BaseException], stall: set[str] | None = None) -> Rig:
    """A started runtime whose first producer raises ``fail`` (call name, error) in order."""
    consumer = FakeConsumer()
    first = FakeProducer()
    for name, error in fail:
        first.fail.setdefault(name, []).append(error)
    producers: list[FakeProducer] = []

    def new_producer() -> Any:
        producers.append(first if not producers else FakeProducer())
        return producers[-1]

    runtime = TransactionalRuntime(
        Settings(topic_prefix="t."),
        "riskstream-test",
        "0",
        ["patient-records"],
        WorkerMetrics("test"),
        cadence=Cadence(size=10, wait_s=0.0, linger_s=0.0),
        retry_on=(RedisDown,),
        clients=Clients(consumer=lambda: consumer, producer=new_producer),  # type: ignore[arg-type, return-value]
        calls=ImmediateCalls(stall),  # type: ignore[arg-type]
    )
    runtime.start()
    return Rig(runtime, consumer, producers)


def one_output(messages: list[Any]) -> Batch:
    truth = GroundTruth("l1", "r1", "p1", 0, 1, "test")
    return Batch(outputs=[Output(GROUND_TRUTH, b"p1", truth)])


MESSAGES = [FakeMessage(5), FakeMessage(6), FakeMessage(3, _partition=1)]


def test_a_batch_commits_its_outputs_and_offsets_in_one_transaction() -> None:
    r = rig()
    done: list[str] = []
    batch = one_output(MESSAGES)
    batch.before_commit = lambda: done.append("before")
    batch.after_commit = lambda: done.append("after")
    assert r.runtime.process_once(lambda _: batch, MESSAGES)  # type: ignore[arg-type]
    assert r.producer.calls == ["init", "begin", "produce", "send_offsets", "commit"]
    assert r.producer.produced == [("t.ground-truth", b"p1")]
    assert done == ["before", "after"] and r.consumer.seeks == []


def test_an_empty_batch_opens_no_transaction_but_still_runs_its_after_commit() -> None:
    r = rig()
    done: list[str] = []
    assert r.runtime.process_once(lambda _: Batch(after_commit=lambda: done.append("after")), [])
    assert r.producer.calls == ["init"] and done == ["after"]


def test_a_retriable_commit_error_is_retried_and_the_batch_counts_as_committed() -> None:
    r = rig(("commit", kafka_error(retriable=True)))
    assert r.runtime.process_once(one_output, MESSAGES)  # type: ignore[arg-type]
    assert r.producer.calls[-2:] == ["commit", "commit"] and "abort" not in r.producer.calls
    assert r.consumer.seeks == []


def test_a_failed_produce_aborts_and_rewinds_to_each_partitions_first_offset() -> None:
    r = rig(("produce", kafka_error()))
    after: list[str] = []

    def process(_: Any) -> Batch:
        batch = one_output(MESSAGES)
        batch.after_commit = lambda: after.append("after")
        return batch

    assert not r.runtime.process_once(process, MESSAGES)  # type: ignore[arg-type]
    assert r.producer.calls[-1] == "abort" and "commit" not in r.producer.calls
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)] and after == []


def test_a_fatal_error_replaces_the_producer_and_rewinds() -> None:
    r = rig(("send_offsets", kafka_error(fatal=True)))
    assert not r.runtime.process_once(one_output, MESSAGES)  # type: ignore[arg-type]
    assert len(r.producers) == 2 and r.runtime.producer is r.producers[1]
    assert "abort" not in r.producers[0].calls and r.producers[1].calls == ["init"]
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)]


def test_a_failed_abort_replaces_the_producer() -> None:
    r = rig(("produce", kafka_error()), ("abort", kafka_error()))
    assert not r.runtime.process_once(one_output, MESSAGES)  # type: ignore[arg-type]
    assert len(r.producers) == 2 and r.consumer.seeks


@pytest.mark.parametrize(
    ("committed", "counts"),
    [({(TOPIC, 0): 7}, True), ({(TOPIC, 0): 6}, False), ({}, False)],
    ids=["offsets-passed-the-batch", "offsets-short-of-it", "nothing-committed"],
)
def test_a_stalled_commit_counts_as_committed_only_if_the_groups_offsets_passed_the_batch(
    committed: dict[tuple[str, int], int], counts: bool
) -> None:
    r = rig(stall={"commit_transaction"})
    r.consumer.committed_offsets = committed
    messages = MESSAGES[:2]  # partition 0, offsets 5 and 6: committed means 7 or more
    assert r.runtime.process_once(one_output, messages) is counts  # type: ignore[arg-type]
    assert len(r.producers) == 2  # the stuck producer is abandoned, its transaction fenced
    assert r.consumer.seeks == ([] if counts else [(TOPIC, 0, 5)])


def test_a_stall_before_the_commit_never_counts_as_committed() -> None:
    r = rig(stall={"send_offsets_to_transaction"})
    r.consumer.committed_offsets = {(TOPIC, 0): 99}  # even if offsets look far ahead
    assert not r.runtime.process_once(one_output, MESSAGES[:2])  # type: ignore[arg-type]
    assert len(r.producers) == 2 and r.consumer.seeks == [(TOPIC, 0, 5)]


def test_a_dependency_down_inside_the_transaction_aborts_it_and_reaches_the_caller() -> None:
    r = rig()

    def down() -> None:
        raise RedisDown("redis away")

    def process(_: Any) -> Batch:
        batch = one_output(MESSAGES)
        batch.before_commit = down
        return batch

    with pytest.raises(RedisDown):
        r.runtime.process_once(process, MESSAGES)  # type: ignore[arg-type]
    assert r.producer.calls[-1] == "abort" and "commit" not in r.producer.calls


def test_the_loop_retries_a_batch_whose_dependency_was_down_and_commits_it_once() -> None:
    r = rig()
    r.consumer.queued = [FakeMessage(0), FakeMessage(1)]
    attempts: list[int] = []
    stop = threading.Event()

    def process(messages: list[Any]) -> Batch:
        attempts.append(len(messages))
        if len(attempts) == 1:
            r.consumer.queued[:0] = messages  # what the rewind's seek makes the broker do
            raise RedisDown("redis away")
        stop.set()
        return one_output(messages)

    r.runtime.run(process, stop)  # type: ignore[arg-type]
    assert attempts == [2, 2] and r.consumer.seeks == [(TOPIC, 0, 0)]
    assert r.producer.calls.count("commit") == 1 and r.consumer.closed
