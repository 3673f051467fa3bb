"""Fake Kafka clients and workers for the engines' unit tests: they record every call, and
raise the errors a test tells them to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from riskstream.io.kafka.contract import Batch

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
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    commit_errors: list[BaseException] = field(default_factory=list)
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

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in partitions]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.commit_errors:
            raise self.commit_errors.pop(0)
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeProducer:
    """Records every call; ``fail`` maps a call's name to the errors its next calls raise."""

    fail: dict[str, list[BaseException]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    produced: list[tuple[str, bytes | None]] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)  # -1: the key's
    delivery_error: Any = None  # what each delivery report says (None: delivered)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        errors = self.fail.get(name)
        if errors:
            raise errors.pop(0)

    def init_transactions(self, timeout: float) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        on_delivery: Callable[[Any, Any], None] | None = None,
        partition: int = -1,
    ) -> None:
        self._call("produce")
        self.produced.append((topic, key))
        self.partitions.append(partition)
        if on_delivery is not None:
            on_delivery(self.delivery_error, None)

    def poll(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, positions: Any, group: Any, timeout: float) -> None:
        self._call("send_offsets")

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort")

    def flush(self, timeout: float) -> int:
        self._call("flush")
        return 0


@dataclass
class Steps:
    """A worker made of two functions."""

    on_process: Callable[[list[Any]], Batch | None]
    on_tick: Callable[[], Batch | None] = lambda: None

    def process(self, records: list[Any]) -> Batch | None:
        return self.on_process(records)

    def tick(self) -> Batch | None:
        return self.on_tick()


def kafka_error(*, retriable: bool = False, fatal: bool = False) -> KafkaException:
    return KafkaException(
        KafkaError(KafkaError._TIMED_OUT, "broker away", fatal=fatal, retriable=retriable)
    )
