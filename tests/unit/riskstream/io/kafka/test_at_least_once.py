"""The at-least-once engine's order (effects, outputs delivered, offsets committed) and its
failure paths, with fake clients: what is produced and committed, and where the consumer is
rewound to. The notifier's and the learner's integration tests prove it on a real broker."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from confluent_kafka import KafkaError

from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH
from riskstream.io.kafka import contract
from riskstream.io.kafka.at_least_once import AtLeastOnceRuntime
from riskstream.io.kafka.contract import Batch, Cadence, Output
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

MESSAGES = [FakeMessage(5), FakeMessage(6), FakeMessage(3, _partition=1)]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "RETRY_S", 0.01)


@dataclass
class FakeSource:
    consumer: FakeConsumer
    commits: bool = True

    def open(self, metrics: WorkerMetrics) -> Any:
        return self.consumer


@dataclass
class Rig:
    runtime: AtLeastOnceRuntime
    consumer: FakeConsumer
    producers: list[FakeProducer]


def rig(*, commits: bool = True) -> Rig:
    consumer = FakeConsumer()
    producers: list[FakeProducer] = []

    def new_producer() -> Any:
        producers.append(FakeProducer())
        return producers[-1]

    runtime = AtLeastOnceRuntime(
        Settings(topic_prefix="t."),
        "test",
        WorkerMetrics("test"),
        FakeSource(consumer, commits),
        cadence=Cadence(size=10, wait_s=0.0, linger_s=0.0),
        producer=new_producer,
    )
    runtime.consumer = consumer  # as run() does when it opens the source
    return Rig(runtime, consumer, producers)


def one_output(done: list[str] | None = None) -> Batch:
    truth = GroundTruth("l1", "r1", "p1", 0, 1, "test")
    log = done if done is not None else []
    return Batch(
        [Output(GROUND_TRUTH, b"p1", truth)],
        before_commit=lambda: log.append("before"),
        after_commit=lambda: log.append("after"),
    )


def test_outputs_are_delivered_before_the_offsets_after_each_partitions_last_are_committed() -> (
    None
):
    r = rig()
    done: list[str] = []
    assert r.runtime.process_once(Steps(lambda _: one_output(done)), MESSAGES)
    assert r.producers[0].produced == [("t.ground-truth", b"p1")]
    assert r.producers[0].calls == ["produce", "flush"]
    assert r.consumer.commits == [[(TOPIC, 0, 7), (TOPIC, 1, 4)]]
    assert done == ["before", "after"] and r.consumer.seeks == []


def test_a_batch_without_outputs_makes_no_producer_and_still_commits() -> None:
    r = rig()
    assert r.runtime.process_once(Steps(lambda _: None), MESSAGES[:1])
    assert r.producers == [] and r.consumer.commits == [[(TOPIC, 0, 6)]]


@pytest.mark.parametrize("failure", ["report", "produce"])
def test_an_undelivered_output_commits_nothing_and_rewinds_the_batch(failure: str) -> None:
    r = rig()
    broken = FakeProducer()
    if failure == "report":  # the broker did not take it
        broken.delivery_error = KafkaError(KafkaError._MSG_TIMED_OUT)
    else:  # librdkafka refused it at once (too large, queue full)
        broken.fail["produce"] = [kafka_error()]
    r.runtime.outputs._make_producer = lambda: broken
    done: list[str] = []
    assert not r.runtime.process_once(Steps(lambda _: one_output(done)), MESSAGES)
    assert r.consumer.commits == [] and done == []
    assert sorted(r.consumer.seeks) == [(TOPIC, 0, 5), (TOPIC, 1, 3)]


def test_an_assigned_source_commits_nothing() -> None:
    r = rig(commits=False)
    done: list[str] = []
    assert r.runtime.process_once(Steps(lambda _: one_output(done)), MESSAGES)
    assert r.consumer.commits == [] and done == ["before", "after"]


def test_a_refused_commit_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = rig()
    r.consumer.commit_errors.append(kafka_error())
    assert r.runtime.process_once(Steps(lambda _: None), MESSAGES)
    assert "offsets not committed" in caplog.text and r.consumer.commits == []


def test_a_turn_with_no_message_ticks_and_delivers_the_ticks_outputs() -> None:
    r = rig()
    done: list[str] = []
    assert r.runtime.process_once(Steps(lambda _: None, lambda: one_output(done)), [])
    assert r.producers[0].produced == [("t.ground-truth", b"p1")]
    assert r.consumer.commits == [] and done == ["before", "after"]


def test_the_loop_hands_a_held_up_batch_again_and_commits_it_once() -> None:
    r = rig()
    r.consumer.queued = [FakeMessage(0), FakeMessage(1)]
    attempts: list[list[int]] = []
    stop = threading.Event()

    def process(messages: list[Any]) -> None:
        attempts.append([m.offset() for m in messages])
        if len(attempts) < 3:
            raise redis.ConnectionError("redis away")
        stop.set()

    r.runtime.run(Steps(process), stop)
    assert attempts == [[0, 1], [0, 1], [0, 1]]
    assert r.consumer.commits == [[(TOPIC, 0, 2)]] and r.consumer.closed


def test_a_stop_while_held_up_leaves_the_batch_uncommitted() -> None:
    r = rig()
    r.consumer.queued = [FakeMessage(0)]
    stop = threading.Event()

    def process(messages: list[Any]) -> None:
        stop.set()
        raise redis.ConnectionError("redis away")

    r.runtime.run(Steps(process), stop)
    assert r.consumer.commits == [] and r.consumer.closed


def test_any_other_error_stops_the_worker_and_closes_the_consumer() -> None:
    r = rig()
    r.consumer.queued = [FakeMessage(0)]

    def process(messages: list[Any]) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        r.runtime.run(Steps(process), threading.Event())
    assert r.consumer.commits == [] and r.consumer.closed
