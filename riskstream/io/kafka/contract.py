"""The one contract every worker meets, whichever engine runs it.

A worker is two methods: ``process(batch)`` makes a :class:`Batch` (events to produce, side
effects) of the records it is handed, and ``tick()`` is called when no record came, for
what is due on a clock (parked labels, a snapshot, closing windows). It raises one of
:data:`RETRY_LATER` when a dependency other than Kafka is away: the engine then hands it the
same records again a second later, and commits nothing meanwhile.

The engines own everything else (docs/architecture.md):

- :class:`~riskstream.io.kafka.runtime.TransactionalRuntime`: each batch's outputs and offsets
  in one Kafka transaction (exactly once; scorer, joiner, trainer);
- :class:`~riskstream.io.kafka.at_least_once.AtLeastOnceRuntime`: outputs delivered, then the
  offsets committed, or kept by the worker (notifier, online learner, model follower);
- :class:`~riskstream.io.kafka.faust_worker.FaustRuntime`: the same at-least-once order on
  faust-streaming (drift monitor, performance monitor, trigger).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from riskstream.core.topics import E, TopicSpec
from riskstream.io.redis_client import REDIS_DOWN, REDIS_RETRY_S, note_unavailable
from riskstream.schemas import AvroCodec

# The errors that mean "not done: hand me these records again later" (Redis restarting, a
# network blip); anything else stops the worker with its reason.
RETRY_LATER: tuple[type[Exception], ...] = REDIS_DOWN
RETRY_S = REDIS_RETRY_S
M = TypeVar("M")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Output(Generic[E]):
    """One event to produce with the batch, to the catalog topic that carries its type (mypy
    refuses a DeadLetter bound for ``predictions``)."""

    topic: TopicSpec[E]
    key: bytes | None
    event: E | bytes  # bytes: the event already in the wire format (the scorer's columns)
    # None: the key's partition. Set where the key no longer places an event beside its
    # input: a prediction keyed by its patient's reference goes to the partition its record
    # came from, so each partition's event times stay in the order the monitors' watermarks
    # need (keyed by the reference, a partition mixed three record partitions read at their
    # own paces, and two thirds of a backlog came in later than the lateness allows).
    partition: int | None = None


PARTITION_BY_KEY = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner hashes the key


def wire_value(out: Output[Any], codec: AvroCodec) -> bytes:
    """``out``'s value as produced: its event encoded, or the bytes it came with."""
    event = out.event
    return event if isinstance(event, bytes) else codec.encode_event(event)


def placed(out: Output[Any]) -> int:
    """The ``partition`` to produce ``out`` to (the key's, unless the output names one)."""
    return PARTITION_BY_KEY if out.partition is None else out.partition


@dataclass
class Batch:
    """What a worker made of the records it was handed.

    ``before_commit`` runs once the outputs are sent and before the offsets commit (in the
    transaction, for the transactional engine): a side effect that must happen if the batch
    commits and may repeat if it does not (the joiner parks early labels there).
    ``after_commit`` runs once the batch has committed."""

    outputs: list[Output[Any]] = field(default_factory=list)
    before_commit: Callable[[], None] | None = None
    after_commit: Callable[[], None] | None = None

    @property
    def empty(self) -> bool:
        return not self.outputs and self.before_commit is None


@dataclass(frozen=True)
class Cadence:
    """How an engine waits for work: up to ``wait_s`` for a first record, then up to
    ``linger_s`` for the batch to fill to ``size``; ``tick()`` runs on turns with no record.
    A batch that fills is a backlog: it takes what else is already fetched, up to
    ``backlog_size``, so that a transaction's fixed cost is paid over more records while at
    low load a batch (and the latency) stays small."""

    size: int = 1000
    wait_s: float = 0.1
    linger_s: float = 0.01
    backlog_size: int = 0  # 0: never more than ``size``


class Worker(Protocol[M]):
    """What an engine runs: records of type ``M`` in, a :class:`Batch` out."""

    def process(self, records: list[M]) -> Batch | None: ...

    def tick(self) -> Batch | None: ...


def attempt(step: Callable[[], T], worker: str, what: str = "the batch") -> tuple[bool, T | None]:
    """``(True, step())``, or ``(False, None)`` if a dependency was away (said in the log):
    the one place a step's "retry later" is recognised, for every engine's own wait."""
    try:
        return True, step()
    except RETRY_LATER as exc:
        note_unavailable(worker, exc, what)
        return False, None


def retry_while_unavailable(
    step: Callable[[], T], worker: str, stop: threading.Event, what: str
) -> tuple[bool, T | None]:
    """``attempt`` every ``RETRY_S`` until it succeeds; ``(False, None)`` if the worker is told
    to stop first (nothing was done, so nothing is lost)."""
    while not stop.is_set():
        done, value = attempt(step, worker, what)
        if done:
            return True, value
        stop.wait(RETRY_S)
    return False, None
