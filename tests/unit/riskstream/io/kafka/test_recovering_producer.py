"""The recovering producer's replacement logic, on fake librdkafka clients and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from riskstream.io.kafka.recovering_producer import RecoveringProducer

LEARNED = {"brokers": {"127.0.0.1:9092/1": {"source": "learned", "nodeid": 1, "state": "UP"}}}
LOST: dict[str, Any] = {"brokers": {}}  # the internal broker is never listed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeClient:
    """A librdkafka producer that delivers while it has brokers, and holds its queue when it
    has lost them; ``purge`` hands the queue back as purge errors on the next poll."""

    def __init__(self, config: dict[str, Any], clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.has_brokers = True
        self.queue: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.reports: list[tuple[Any, KafkaError | None]] = []
        self.delivered: list[Any] = []

    def stats(self, report: dict[str, Any]) -> None:
        self.config["stats_cb"](json.dumps(report))

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self.queue.append((args, kwargs))

    def _serve(self) -> int:
        served = len(self.reports)
        for callback, err in self.reports:
            callback(err, None)
        self.reports = []
        return served

    def poll(self, timeout: float = 0) -> int:
        if self.has_brokers:
            self._send_all()
        return self._serve()

    def _send_all(self) -> None:
        for args, kwargs in self.queue:
            self.delivered.append(kwargs.get("value", args[1] if len(args) > 1 else None))
            self.reports.append((kwargs["on_delivery"], None))
        self.queue = []

    def flush(self, timeout: float = -1) -> int:
        if self.has_brokers:
            self._send_all()
        else:
            self.clock.now += max(timeout, 0.0)  # blocks for its whole timeout
        self._serve()
        return len(self.queue)

    def purge(self, in_queue: bool = True, in_flight: bool = True) -> None:
        for _, kwargs in self.queue:
            self.reports.append((kwargs["on_delivery"], KafkaError(KafkaError._PURGE_QUEUE)))
        self.queue = []

    def list_topics(self, *args: Any, **kwargs: Any) -> str:
        if not self.has_brokers:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        return "metadata"

    def __len__(self) -> int:
        return len(self.queue) + len(self.reports)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clients() -> list[FakeClient]:
    return []


@pytest.fixture
def producer(clock: Clock, clients: list[FakeClient]) -> RecoveringProducer:
    def make(config: dict[str, Any]) -> FakeClient:
        clients.append(FakeClient(config, clock))
        return clients[-1]

    return RecoveringProducer({"bootstrap.servers": "x"}, make=make, clock=clock)


def _lose_brokers(client: FakeClient) -> None:
    client.has_brokers = False
    client.stats(LOST)


def test_statistics_are_asked_for_every_5_s(
    producer: RecoveringProducer, clients: list[FakeClient]
) -> None:
    assert clients[0].config["statistics.interval.ms"] == 5000
    assert clients[0].config["bootstrap.servers"] == "x"


def test_a_client_without_brokers_for_10_s_is_replaced_and_its_queue_sent_again(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    outcomes: list[KafkaError | None] = []
    _lose_brokers(clients[0])
    for value in (b"a", b"b"):
        producer.produce(
            "alerts", key=b"k", value=value, on_delivery=lambda e, _: outcomes.append(e)
        )
    clock.now = 10.0
    producer.poll(0)  # the next call replaces the client
    assert len(clients) == 2 and producer.replacements == 1
    assert clients[1].delivered == [b"a", b"b"]  # in order, through the new client
    producer.poll(0)
    assert outcomes == [None, None]  # each callback once, for the delivery, not the purge


def test_fewer_than_10_s_without_brokers_keeps_the_client(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    _lose_brokers(clients[0])
    clock.now = 9.0
    producer.poll(0)
    clients[0].stats(LEARNED)  # one answer in passing: the clock starts again
    clock.now = 15.0
    clients[0].stats(LOST)
    clock.now = 24.0
    producer.poll(0)
    assert len(clients) == 1


def test_an_old_clients_reports_do_not_count_against_the_new_one(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    _lose_brokers(clients[0])
    clock.now = 10.0
    producer.poll(0)
    clients[0].stats(LOST)  # the replaced client, still closing
    clock.now = 30.0
    producer.poll(0)
    assert len(clients) == 2


def test_a_flush_outlives_a_client_that_loses_its_brokers(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    producer.produce("windows", value=b"w")
    _lose_brokers(clients[0])
    assert producer.flush(30) == 0  # served in slices: replaced after 10 s, then delivered
    assert clients[1].delivered == [b"w"]
    assert clock.now < 30


def test_a_flush_that_cannot_deliver_returns_what_is_left_at_its_timeout(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    producer.produce("windows", value=b"w")
    clients[0].has_brokers = False  # gone, but its statistics still list the broker
    assert producer.flush(3) == 1
    assert clock.now == pytest.approx(3.0)
    assert len(clients) == 1


def test_other_delivery_errors_reach_the_callback(
    producer: RecoveringProducer, clients: list[FakeClient]
) -> None:
    outcomes: list[KafkaError | None] = []
    producer.produce("alerts", value=b"a", on_delivery=lambda e, _: outcomes.append(e))
    callback = clients[0].queue[0][1]["on_delivery"]
    callback(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert [e.code() for e in outcomes if e is not None] == [KafkaError._MSG_TIMED_OUT]


def test_metadata_is_asked_of_the_replacement(
    producer: RecoveringProducer, clients: list[FakeClient], clock: Clock
) -> None:
    _lose_brokers(clients[0])
    with pytest.raises(KafkaException):
        producer.list_topics("alerts", timeout=0.5)
    clock.now = 10.0
    assert producer.list_topics("alerts", timeout=0.5) == "metadata"
