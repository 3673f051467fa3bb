"""The transactional runtime's commit, settle and abandon paths, with fake clients (as
quix-streams tests its checkpoint): which transaction calls are made, whether the batch counts
as committed, and where the consumer is rewound to. The fault tests prove the same paths
against a real broker; these reach every branch in a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import redis

from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH
from riskstream.io.kafka import clients as clients_module
from riskstream.io.kafka import runtime as runtime_module
from riskstream.io.kafka.contract import Batch, Cadence, Output
from riskstream.io.kafka.deadline import StalledCallError
from riskstream.io.kafka.group_watch import GroupWatch
from riskstream.io.kafka.runtime import Clients, TransactionalRuntime
from riskstream.io.ops import WorkerMetrics
from riskstream.schemas.events import GroundTruth
from tests.unit.riskstream.io.kafka.fakes import (
    TOPIC,
    FakeConsumer,
    FakeMessage,
    FakeProducer,
    Steps,
    kafka_error,
)
from tests.waiting import wait_for

T = TypeVar("T")


class ImmediateCalls:
    """A ``CallDeadline`` that runs calls inline, and stalls the ones it is told to."""

    def __init__(self, stall: set[str] | None = None) -> None:
        self.stall = stall or set()

    def run(self, what: str, timeout_s: float, call: Callable[[], T]) -> T:
        if what in self.stall:
            self.stall.discard(what)
            raise StalledCallError(f"{what} did not return", worker="test")
        return call()


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
        clients=Clients(consumer=lambda: consumer, producer=new_producer),  # type: ignore[arg-type, return-value]
        calls=ImmediateCalls(stall),
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
    assert r.runtime.process_once(Steps(lambda _: batch), MESSAGES)
    assert r.producer.calls == ["init", "begin", "produce", "send_offsets", "commit"]
    assert r.producer.produced == [("t.ground-truth", b"p1")]
    assert done == ["before", "after"] and r.consumer.seeks == []


def test_an_output_that_names_a_partition_goes_there_and_any_other_where_its_key_hashes() -> None:
    r = rig()
    truth = GroundTruth("l1", "r1", "p1", 0, 1, "test")
    batch = Batch(
        outputs=[Output(GROUND_TRUTH, b"ref", truth, 2), Output(GROUND_TRUTH, b"k", truth)]
    )
    assert r.runtime.process_once(Steps(lambda _: batch), MESSAGES)
    assert r.producer.produced == [("t.ground-truth", b"ref"), ("t.ground-truth", b"k")]
    assert r.producer.partitions == [2, -1]


def test_a_full_producer_queue_is_served_and_the_record_produced_again() -> None:
    r = rig(("produce", BufferError("queue full")), ("produce", BufferError("queue full")))
    assert r.runtime.process_once(Steps(one_output), MESSAGES)
    assert r.producer.calls == ["init", "begin", *["produce"] * 3, "send_offsets", "commit"]
    assert r.producer.produced == [("t.ground-truth", b"p1")] and r.consumer.seeks == []


def test_a_queue_that_stays_full_aborts_the_batch_and_rewinds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime_module, "QUEUE_FULL_RETRIES", 2)
    r = rig(*[("produce", BufferError("queue full"))] * 2)
    assert not r.runtime.process_once(Steps(one_output), MESSAGES)
    assert r.producer.produced == [] and r.producer.calls[-1] == "abort"
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)]


def test_an_empty_batch_opens_no_transaction_but_still_runs_its_after_commit() -> None:
    r = rig()
    done: list[str] = []
    tick = Steps(lambda _: None, lambda: Batch(after_commit=lambda: done.append("after")))
    assert r.runtime.process_once(tick, [])
    assert r.producer.calls == ["init"] and done == ["after"]


def test_a_retriable_commit_error_is_retried_and_the_batch_counts_as_committed() -> None:
    r = rig(("commit", kafka_error(retriable=True)))
    assert r.runtime.process_once(Steps(one_output), MESSAGES)
    assert r.producer.calls[-2:] == ["commit", "commit"] and "abort" not in r.producer.calls
    assert r.consumer.seeks == []


def test_a_failed_produce_aborts_and_rewinds_to_each_partitions_first_offset() -> None:
    r = rig(("produce", kafka_error()))
    after: list[str] = []

    def process(_: Any) -> Batch:
        batch = one_output(MESSAGES)
        batch.after_commit = lambda: after.append("after")
        return batch

    assert not r.runtime.process_once(Steps(process), MESSAGES)
    assert r.producer.calls[-1] == "abort" and "commit" not in r.producer.calls
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)] and after == []


def test_a_fatal_error_replaces_the_producer_and_rewinds() -> None:
    r = rig(("send_offsets", kafka_error(fatal=True)))
    assert not r.runtime.process_once(Steps(one_output), MESSAGES)
    assert len(r.producers) == 2 and r.runtime.producer is r.producers[1]
    assert "abort" not in r.producers[0].calls and r.producers[1].calls == ["init"]
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)]


def test_a_failed_abort_replaces_the_producer() -> None:
    r = rig(("produce", kafka_error()), ("abort", kafka_error()))
    assert not r.runtime.process_once(Steps(one_output), MESSAGES)
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
    assert r.runtime.process_once(Steps(one_output), messages) is counts
    assert len(r.producers) == 2  # the stuck producer is abandoned, its transaction fenced
    assert r.consumer.seeks == ([] if counts else [(TOPIC, 0, 5)])


class SlowCalls:
    """Calls that each take their whole timeout on ``clock``, as a commit queued on a
    producer with no broker does."""

    def __init__(self) -> None:
        self.now = 0.0

    def run(self, what: str, timeout_s: float, call: Callable[[], T]) -> T:
        self.now += timeout_s
        return call()


def test_a_commit_that_keeps_timing_out_is_given_up_after_its_budget_not_20_tries() -> None:
    """The loaded broker-restart run: every retried commit timed out as retriable, and 20
    tries of 30 s held the scorer for 10 minutes. Now the retries stop after
    ``COMMIT_RETRY_S`` with a stall, which the runtime settles from the committed offsets."""
    producer = FakeProducer(fail={"commit": [kafka_error(retriable=True) for _ in range(20)]})
    calls = SlowCalls()
    with pytest.raises(StalledCallError, match="commit_transaction still failed"):
        clients_module.settle_transaction(
            producer,  # type: ignore[arg-type]
            kafka_error(retriable=True),
            True,
            FakeProducer,  # type: ignore[arg-type]
            "test",
            calls,  # type: ignore[arg-type]
            clock=lambda: calls.now,
        )
    tries = producer.calls.count("commit")
    assert tries == clients_module.COMMIT_RETRY_S // 30 and "abort" not in producer.calls


@pytest.mark.parametrize("committed", [True, False], ids=["went-through", "did-not"])
def test_a_commit_retried_past_its_budget_is_settled_from_the_groups_offsets(
    committed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients_module, "COMMIT_RETRY_S", 0.0)
    r = rig(("commit", kafka_error(retriable=True)))
    r.consumer.committed_offsets = {(TOPIC, 0): 7 if committed else 5}
    assert r.runtime.process_once(Steps(one_output), MESSAGES[:2]) is committed
    assert len(r.producers) == 2  # abandoned, its transaction fenced by the new one
    assert r.consumer.seeks == ([] if committed else [(TOPIC, 0, 5)])


class LostConsumer(FakeConsumer):
    """A consumer that lost its brokers: no answer about committed offsets."""

    def committed(self, wanted: list[Any], timeout: float) -> list[Any]:
        raise kafka_error(retriable=True)


def test_committed_offsets_are_asked_of_a_new_consumer_when_the_workers_cannot_answer() -> None:
    r = rig(stall={"commit_transaction"})
    lost = r.runtime.consumer = LostConsumer()
    r.consumer.committed_offsets = {(TOPIC, 0): 7}  # what a new consumer of the group reads
    assert r.runtime.process_once(Steps(one_output), MESSAGES[:2])
    assert lost.seeks == [] and not lost.closed  # the worker keeps its own (group_watch)
    assert wait_for(lambda: r.consumer.closed, 5)  # the one made to ask is closed, off the worker


def test_a_stall_before_the_commit_never_counts_as_committed() -> None:
    r = rig(stall={"send_offsets_to_transaction"})
    r.consumer.committed_offsets = {(TOPIC, 0): 99}  # even if offsets look far ahead
    assert not r.runtime.process_once(Steps(one_output), MESSAGES[:2])
    assert len(r.producers) == 2 and r.consumer.seeks == [(TOPIC, 0, 5)]


def test_a_dependency_down_inside_the_transaction_aborts_it_and_reaches_the_caller() -> None:
    r = rig()

    def down() -> None:
        raise redis.ConnectionError("redis away")

    def process(_: Any) -> Batch:
        batch = one_output(MESSAGES)
        batch.before_commit = down
        return batch

    with pytest.raises(redis.ConnectionError):
        r.runtime.process_once(Steps(process), MESSAGES)
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
            raise redis.ConnectionError("redis away")
        stop.set()
        return one_output(messages)

    r.runtime.run(Steps(process), stop)
    assert attempts == [2, 2] and r.consumer.seeks == [(TOPIC, 0, 0)]
    assert r.producer.calls.count("commit") == 1 and r.consumer.closed


def test_a_consumer_whose_group_membership_is_stuck_is_replaced_and_the_new_one_read() -> None:
    stuck, fresh = FakeConsumer(), FakeConsumer(queued=[FakeMessage(0)])
    made = iter([stuck, fresh])
    metrics = WorkerMetrics("test")
    runtime = TransactionalRuntime(
        Settings(topic_prefix="t."),
        "riskstream-test",
        "0",
        ["patient-records"],
        metrics,
        cadence=Cadence(size=10, wait_s=0.0, linger_s=0.0),
        clients=Clients(consumer=lambda: next(made), producer=FakeProducer),  # type: ignore[arg-type, return-value]
        calls=ImmediateCalls(set()),
    )
    runtime.start()
    now = [0.0]
    metrics.group = GroupWatch(clock=lambda: now[0])
    metrics.group.observe({"cgrp": {"state": "up", "join_state": "wait-join"}})  # 40 s allowed
    stop = threading.Event()
    seen: list[int] = []

    def process(messages: list[Any]) -> Batch:
        seen.append(len(messages))
        stop.set()
        return one_output(messages)

    now[0] = 39.0
    assert metrics.group.stuck() is None  # a rebalance may take a while
    now[0] = 41.0
    runtime.run(Steps(process), stop)
    assert runtime.consumer is fresh and fresh.topics == ["t.patient-records"]
    assert seen == [1] and metrics.group.stuck() is None
    assert wait_for(lambda: stuck.closed, 5), "the stuck consumer was not closed"
