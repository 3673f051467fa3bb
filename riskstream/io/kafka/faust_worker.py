"""The worker contract's engine on faust-streaming: the drift monitor, the performance
monitor and the trigger.

``FaustRuntime`` runs a worker of the contract (:mod:`.contract`) as a Faust app
(:mod:`.faust_app` builds it, and is the one module that reaches into Faust's internals), on
its own event loop in the calling thread, so a worker runs the same way from the CLI, the
demo and the tests, and stops on a ``threading.Event``. This module uses Faust's public API
only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Iterable, Sequence
from functools import partial
from typing import Any

import faust

from riskstream.core.errors import ServiceUnavailableError
from riskstream.core.memory import release_free_memory
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.at_least_once import OutputSender
from riskstream.io.kafka.contract import RETRY_S, Batch, Worker, attempt
from riskstream.io.kafka.faust_app import FAUST_LOG, commit_processed, faust_app, raw_topic
from riskstream.io.ops import WorkerMetrics
from riskstream.schemas.events import Consumed as Record

log = logging.getLogger(__name__)
COMMIT_INTERVAL_S = 1.0  # how often a worker commits the offsets of the batches it applied
# how often a worker hands freed heap pages back (riskstream.core.memory), so that its resident
# size follows what it holds rather than the high-water mark of its batches
TRIM_INTERVAL_S = 60.0


def records_of(events: Sequence[Any]) -> list[Record]:
    """The records of a batch of Faust events (``stream.take_events``)."""
    return [
        Record(
            e.message.key,
            e.message.value,
            e.message.topic,
            e.message.partition,
            e.message.offset,
            int(e.message.timestamp * 1000),
        )
        for e in events
    ]


class _Progress(faust.Sensor):
    """Offsets the consumer has handed to the agents' streams, per partition."""

    logger = FAUST_LOG

    def __init__(self) -> None:
        super().__init__()
        self.delivered: dict[tuple[str, int], int] = {}

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.delivered[(tp.topic, tp.partition)] = offset


class FaustRuntime:
    """The worker contract's at-least-once engine on faust-streaming: runs one worker as a
    Faust app in the calling thread until ``stop`` is set or the worker fails, and keeps the
    worker's health, partition and lag metrics current.

    An agent hands the worker batches of up to ``size`` records (``within_s`` to fill); a
    timer calls its ``tick`` every ``tick_s``. A batch's offsets are committed only after its
    ``process`` returned and its outputs were delivered (the processors' offset guards make
    their effects idempotent). While Redis is away a batch is tried again every second and
    the ticks wait for it: a monitor has already moved its watermark over the batch's
    records, and a tick would close their windows before they are counted, so they would be
    counted late. Any other error stops the worker and is raised from ``run``."""

    def __init__(
        self,
        settings: ClusterSettings,
        group: str,
        metrics: WorkerMetrics,
        *,
        size: int = 1000,
        within_s: float = 0.2,
        tick_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.group = group
        self.metrics = metrics
        self.size, self.within_s, self.tick_s = size, within_s, tick_s
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.processed: dict[tuple[str, int], int] = {}
        self.outputs = OutputSender(settings, metrics.processor)
        self._progress = _Progress()
        self._caught_up: set[tuple[str, int]] = set()
        self._unapplied = False  # a batch waits to be tried again: no tick meanwhile

    def fail(self, error: BaseException) -> None:
        """Stop the worker and raise ``error`` from ``run``."""
        self.error = error
        self.stop.set()

    def run(self, worker: Worker[Record], topics: Sequence[str], stop: threading.Event) -> None:
        """Consume ``topics`` (full names) into ``worker`` until ``stop`` is set."""
        self.stop = stop
        self.app = app = faust_app(self.settings, self.group)
        app.sensors.add(self._progress)

        @app.agent(raw_topic(app, *topics), name="process")
        async def process(stream: Any) -> None:  # a faust Stream; its stub lacks take_events
            async for events in stream.take_events(self.size, within=self.within_s):
                await self._guarded(self._apply(worker, records_of(events)))

        @app.timer(self.tick_s, name="tick")
        async def tick() -> None:
            await self._guarded(self._tick(worker))

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()
            self.outputs.close()
        if self.error is not None:
            raise self.error

    async def _guarded(self, step: Awaitable[None]) -> None:
        try:
            await step
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker that cannot go on stops with the reason
            self.fail(exc)

    async def _apply(self, worker: Worker[Record], records: list[Record]) -> None:
        name = self.metrics.processor
        while True:
            done, batch = attempt(partial(worker.process, records), name)
            if done:
                self._unapplied = False
                break
            self._unapplied = True
            self.metrics.ready = False
            if self.stop.is_set():
                raise ServiceUnavailableError(
                    "stopped while Redis was down, with a batch not applied",
                    processor=name,
                    hint="restart the worker once Redis answers; it re-reads the batch "
                    "unless Faust committed it on the way down",
                )
            await asyncio.sleep(RETRY_S)
        self.metrics.ready = True
        await self._deliver(batch)
        self._done(records)

    async def _tick(self, worker: Worker[Record]) -> None:
        if self._unapplied:
            return
        done, batch = attempt(worker.tick, self.metrics.processor, "the timer's step")
        self.metrics.ready = done
        await self._deliver(batch)

    async def _deliver(self, batch: Batch | None) -> None:
        """The batch's outputs, sent until delivered; then its commit hooks."""
        if batch is None:
            return
        while not self.outputs.delivered(batch.outputs):
            await asyncio.sleep(RETRY_S)
        for hook in (batch.before_commit, batch.after_commit):
            if hook is not None:
                hook()

    def _done(self, records: Iterable[Record]) -> None:
        """Mark records as processed (their effects applied)."""
        for r in records:
            where = (r.topic, r.partition)
            self.processed[where] = max(self.processed.get(where, r.offset), r.offset)

    async def _commit_processed(self) -> None:
        """Commit, per owned partition, the offset after its last applied record."""
        await commit_processed(self.app.consumer, self.processed)

    def assigned(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.app.consumer.assignment()}

    def unread(self, topic: str, partition: int) -> bool:
        """Whether the partition may still hold records this worker has not processed: the
        consumer has not fetched to its end, or a fetched record waits in a stream."""
        where = (topic, partition)
        delivered = self._progress.delivered.get(where)
        if delivered is not None and delivered > self.processed.get(where, -1):
            return True
        return where not in self._caught_up

    async def _refresh(self) -> None:
        consumer = self.app.consumer
        caught_up: set[tuple[str, int]] = set()
        assignment = consumer.assignment()
        self.metrics.assigned_partitions.set(len(assignment))
        for tp in assignment:
            high = consumer.highwater(tp)
            position = await consumer.position(tp)
            if high is None or position is None:
                continue
            where = (tp.topic, tp.partition)
            if position >= high:
                caught_up.add(where)
            done = self.processed.get(where)
            if done is not None:
                self.metrics.consumer_lag.labels(
                    self.metrics.processor, tp.topic, str(tp.partition)
                ).set(max(0, high - done - 1))
        self._caught_up = caught_up

    async def _main(self) -> None:
        app = self.app
        await app.start()
        log.info("%s: running as Faust app %s", self.metrics.processor, app.conf.id)
        try:
            last_commit, last_trim = 0.0, time.monotonic()
            while not self.stop.is_set():
                self.metrics.beat()
                await self._refresh()
                if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                    await self._commit_processed()
                    last_commit = time.monotonic()
                if time.monotonic() - last_trim >= TRIM_INTERVAL_S:
                    release_free_memory()
                    last_trim = time.monotonic()
                await asyncio.sleep(0.2)
            await self._commit_processed()
        finally:
            await app.stop()
