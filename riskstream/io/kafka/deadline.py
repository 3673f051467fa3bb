"""Blocking librdkafka calls with a deadline the worker keeps itself.

librdkafka 2.16 can block a coordinator request past the timeout it was given: when the node
coordinating a group leaves the cluster's metadata, ``send_offsets_to_transaction`` waits for a
broker state change that may never come (confluentinc/librdkafka#5511, open). Fresh-clone CI
caught it: with one node of three SIGKILLed, the scorer sat in that call for the rest of the
test. :class:`CallDeadline` runs such calls on a helper thread and gives up on one that outlives
its own timeout by ``grace_s``; the caller then abandons the producer (the helper thread stays
blocked in it) and builds a new one, whose transactional id fences the old one's transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import KafkaException

from riskstream.core.errors import ServiceUnavailableError

T = TypeVar("T")


class StalledCallError(ServiceUnavailableError):
    """A client call did not return within its timeout and the grace after it."""


@dataclass
class _Pending:
    call: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class _Helper:
    """One daemon thread running calls in order; daemon, so a call blocked for good never
    holds up the process's exit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inbox: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()

    def start(self) -> _Helper:
        threading.Thread(target=self._serve, name=f"{self.name}-calls", daemon=True).start()
        return self

    def _serve(self) -> None:
        while (pending := self.inbox.get()) is not None:
            try:
                pending.value = pending.call()
            except BaseException as exc:  # handed to the caller, who raises it
                pending.error = exc
            pending.done.set()


class CallDeadline:
    """Runs ``call`` and returns its value or raises its error, unless it is still running
    ``timeout_s + grace_s`` seconds later: then :class:`StalledCallError`, and later calls go
    to a new helper thread."""

    def __init__(self, worker: str, grace_s: float = 5.0) -> None:
        self.worker = worker
        self.grace_s = grace_s
        self.stalls = 0
        self._helper: _Helper | None = None  # started by the first call

    def run(self, what: str, timeout_s: float, call: Callable[[], T]) -> T:
        pending = _Pending(call)
        helper = self._helper = self._helper or _Helper(self.worker).start()
        helper.inbox.put(pending)
        if not pending.done.wait(timeout_s + self.grace_s):
            self.stalls += 1
            self._helper = None  # the next call starts a new helper thread
            helper.inbox.put(None)  # it exits if the stalled call ever returns
            raise StalledCallError(
                f"{what} did not return within its {timeout_s:.0f} s timeout",
                worker=self.worker,
                waited_s=round(timeout_s + self.grace_s, 1),
                hint="a Kafka node probably left the cluster; the worker rebuilds its producer",
            )
        if pending.error is not None:
            raise pending.error
        return pending.value


def close_in_background(close: Callable[[], object], name: str) -> None:
    """Run a replaced client's ``close`` on a daemon thread called ``name``: a client that
    lost its coordinator or its brokers may block in it, and must not hold the worker."""
    threading.Thread(target=_close_quietly, args=(close, name), name=name, daemon=True).start()


def _close_quietly(close: Callable[[], object], name: str) -> None:
    try:
        close()
    except (KafkaException, RuntimeError) as exc:
        logging.getLogger(__name__).info("%s did not close cleanly: %s", name, exc)
