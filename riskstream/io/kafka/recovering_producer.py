"""An idempotent producer that outlives librdkafka dropping every broker address.

A broker that has just restarted is fenced until it has caught up with the cluster's
metadata, and a metadata answer it gives meanwhile lists no broker. librdkafka (2.10 on)
then drops every broker it knew, and without re-bootstrap it has no address left to ask
(librdkafka issue 5301; ``group_watch`` tells the story for consumers, whose runtime
replaces them). A producer in that state queued its records until they timed out (5
minutes), and every ``flush`` and metadata request of its owner failed meanwhile: a monitor
waited 10 s on each window's alerts and could not tell an idle partition from a lost
broker.

This producer reads librdkafka's statistics (every 5 s). When they have listed no broker
address for 10 s, its next call builds a new client from the same configuration, purges the
old client's queue and sends the purged records again through the new one, each with the
delivery callback it was produced with. A record that was in flight when the brokers went
may have been written already: these producers carry at-least-once outputs (alerts, window
records, a clinic's records, replays), so a resent record is at worst a duplicate, never a
loss. The transactional producers have their own path (``settle_transaction``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, Producer

from riskstream.io.kafka.deadline import close_in_background
from riskstream.io.kafka.group_watch import NO_BROKER_KNOWN_AFTER_S, addresses_lost

log = logging.getLogger(__name__)

STATS_INTERVAL_MS = 5_000
# how long a replacement waits for the old client's purged records to come back
PURGE_WAIT_S = 5.0
# a flush is served in slices this long, so a lost client is noticed within one
FLUSH_SLICE_S = 1.0
_PURGED = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})

Delivery = Callable[[KafkaError | None, Any], None]


class RecoveringProducer:
    """The parts of ``confluent_kafka.Producer`` riskstream uses, on a client that is
    replaced when librdkafka has lost every broker address. Used from one thread, as a
    Producer is."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        make: Callable[[dict[str, Any]], Any] = Producer,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self._clock = clock
        self._config = {"statistics.interval.ms": STATS_INTERVAL_MS, **config}
        self._generation = 0
        self._lost_since: float | None = None
        self._resending = False
        self._purged: list[tuple[tuple[Any, ...], dict[str, Any], Delivery | None]] = []
        self.replacements = 0
        self._client = self._new_client()

    def _new_client(self) -> Any:
        generation = self._generation

        def on_stats(raw: str) -> None:
            self._observe(generation, raw)

        return self._make({**self._config, "stats_cb": on_stats})

    def _observe(self, generation: int, raw: str) -> None:
        """One statistics report of client ``generation``; an old client's are ignored."""
        if generation != self._generation:
            return
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        if not addresses_lost(stats):
            self._lost_since = None
        elif self._lost_since is None:
            self._lost_since = self._clock()

    def _recover_if_lost(self) -> None:
        if self._lost_since is None:
            return
        if self._clock() - self._lost_since < NO_BROKER_KNOWN_AFTER_S:
            return
        old = self._client
        self._generation += 1
        self._lost_since = None
        self._client = self._new_client()
        self.replacements += 1
        self._resending = True
        try:
            old.purge(in_queue=True, in_flight=True)
            deadline = self._clock() + PURGE_WAIT_S
            while len(old) and self._clock() < deadline:
                old.poll(0.1)
        finally:
            self._resending = False
        purged, self._purged = self._purged, []
        log.warning(
            "producer: librdkafka lost every broker address for %.0f s (issue 5301); "
            "replaced its client and sending %d queued records again",
            NO_BROKER_KNOWN_AFTER_S,
            len(purged),
        )
        for args, kwargs, on_delivery in purged:
            self._produce(args, kwargs, on_delivery)
        close_in_background(partial(old.flush, 0), "lost-producer")

    def _tracked(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], on_delivery: Delivery | None
    ) -> Delivery:
        def delivered(err: KafkaError | None, msg: Any) -> None:
            if self._resending and err is not None and err.code() in _PURGED:
                self._purged.append((args, kwargs, on_delivery))
            elif on_delivery is not None:
                on_delivery(err, msg)

        return delivered

    def _produce(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], on_delivery: Delivery | None
    ) -> None:
        tracked = self._tracked(args, kwargs, on_delivery)
        try:
            self._client.produce(*args, on_delivery=tracked, **kwargs)
        except BufferError:  # the queue is full: serve delivery reports, then once more
            self._client.poll(1.0)
            self._client.produce(*args, on_delivery=tracked, **kwargs)

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._recover_if_lost()
        on_delivery = kwargs.pop("on_delivery", None) or kwargs.pop("callback", None)
        tracked = self._tracked(args, kwargs, on_delivery)
        self._client.produce(*args, on_delivery=tracked, **kwargs)

    def poll(self, timeout: float = -1) -> int:
        self._recover_if_lost()
        return int(self._client.poll(timeout))

    def flush(self, timeout: float = -1) -> int:
        """Like ``Producer.flush``, served in slices: a client that loses its brokers
        meanwhile is replaced, and its records go out through the new one."""
        forever = timeout is None or timeout < 0
        deadline = self._clock() + (0.0 if forever else float(timeout))
        while True:
            self._recover_if_lost()
            left = FLUSH_SLICE_S if forever else min(FLUSH_SLICE_S, deadline - self._clock())
            remaining = int(self._client.flush(max(left, 0.0)))
            if remaining == 0 or (not forever and self._clock() >= deadline):
                return remaining

    def list_topics(self, *args: Any, **kwargs: Any) -> Any:
        self._recover_if_lost()
        return self._client.list_topics(*args, **kwargs)

    def purge(self, *args: Any, **kwargs: Any) -> None:
        self._client.purge(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._client)
