"""faust-streaming plumbing of the processors that run as Faust agents: the monitor, the
performance monitor and the trigger.

``faust_app`` builds one Faust app per worker from the settings (group id with the topic
prefix, credentials from the ``RISKSTREAM_KAFKA_*`` librdkafka options, tables under the state
dir, no web server: the worker's ``OpsServer`` answers). Its consumer reads committed data only:
the predictions and labeled examples are written in transactions, and an aborted batch must
not be counted. ``FaustRuntime`` runs a worker of the contract (:mod:`.contract`) as that app,
on its own event loop in the calling thread, so a worker runs the same way from the CLI, the
demo and the tests, and stops on a ``threading.Event``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Iterable, Sequence
from functools import partial
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from riskstream.errors import ConfigError, ServiceUnavailableError
from riskstream.kafka.at_least_once import OutputSender
from riskstream.kafka.contract import RETRY_S, Batch, Worker, attempt
from riskstream.memory import release_free_memory
from riskstream.ops import WorkerMetrics
from riskstream.schemas.events import Consumed as Record
from riskstream.settings import Settings

log = logging.getLogger(__name__)
# mode names a service's logger after the module its class is defined in; the subclasses here
# narrate under Faust's name, so they are as quiet as Faust (riskstream.logs).
FAUST_LOG = logging.getLogger("faust.riskstream")
COMMIT_INTERVAL_S = 1.0  # how often a worker commits the offsets of the batches it applied
# how often a worker hands freed heap pages back (riskstream.memory), so that its resident
# size follows what it holds rather than the high-water mark of its batches
TRIM_INTERVAL_S = 60.0
PRODUCER_METADATA_MAX_AGE_MS = 7 * 24 * 3600 * 1000  # a week: see faust_app


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


def offsets_to_commit(
    assignment: Iterable[Any],
    processed: dict[tuple[str, int], int],
    committed: dict[Any, int | None],
) -> dict[Any, int]:
    """Per owned partition (``tp`` with ``.topic`` and ``.partition``), the offset after its
    last applied record, where that is ahead of the committed one: never a commit backwards,
    none for a partition with nothing applied, none for a partition no longer owned."""
    offsets = {}
    for tp in assignment:
        done = processed.get((tp.topic, tp.partition))
        if done is not None and done + 1 > (committed.get(tp) or 0):
            offsets[tp] = done + 1
    return offsets


def forget_acked_below(acked: list[int], index: set[int], committed: int) -> None:
    """Drop Faust's record of acked offsets below ``committed``, in place.

    Faust keeps every acked offset until its own commit passes it, and its own commit stalls
    behind riskstream's commits (see ``_commit_processed``), so the list and its index grew
    by about 75 of every 100 records a worker read: 35 MiB per million records in the soak
    benchmark. Faust ignores acks below the committed offset, so these entries are dead.
    """
    acked[:] = [o for o in acked if o >= committed]
    index.difference_update([o for o in index if o < committed])


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust reads committed data only under its own exactly-once mode; riskstream's agents
    read transactional topics under at-least-once, so they ask for it here."""

    logger = FAUST_LOG

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"  # read when the fetcher starts
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    logger = FAUST_LOG

    def _new_consumer_thread(self) -> Any:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    logger = FAUST_LOG
    Consumer = _Consumer


class _App(faust.App):
    logger = FAUST_LOG

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def broker_credentials(settings: Settings) -> dict[str, Any]:
    """Faust's credentials for the librdkafka security options a deployment sets
    (``security.protocol``, ``sasl.mechanisms``, ``sasl.username``/``password``,
    ``ssl.ca.location``), so one set of ``RISKSTREAM_KAFKA_*`` variables serves both clients."""
    extra = {k: v.get_secret_value() for k, v in settings.kafka_extra.items()}
    protocol = extra.get("security.protocol", "plaintext").lower()
    if protocol == "plaintext":
        return {}
    context = None
    if protocol in ("ssl", "sasl_ssl"):
        context = ssl.create_default_context(cafile=extra.get("ssl.ca.location"))
        if extra.get("enable.ssl.certificate.verification", "true").lower() == "false":
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if protocol == "ssl":
        return {"broker_credentials": faust.SSLCredentials(context)}
    if protocol in ("sasl_ssl", "sasl_plaintext"):
        mechanism = extra.get("sasl.mechanisms", extra.get("sasl.mechanism", "PLAIN")).upper()
        return {
            "broker_credentials": faust.SASLCredentials(
                username=extra.get("sasl.username"),
                password=extra.get("sasl.password"),
                ssl_context=context,
                mechanism=mechanism,
            )
        }
    raise ConfigError(
        "unsupported Kafka security protocol",
        protocol=protocol,
        hint="set RISKSTREAM_KAFKA_SECURITY_PROTOCOL to plaintext, ssl, sasl_ssl or sasl_plaintext",
    )


def faust_app(settings: Settings, group: str) -> faust.App:
    """A Faust app for one worker of ``group`` (the consumer group, prefixed)."""
    app_id = f"{settings.topic_prefix}{group}"
    datadir = (settings.state_dir / "faust" / app_id).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    return _App(
        app_id,
        broker=[f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=False,  # the catalog's topics exist (`riskstream topics`)
        topic_disable_leader=True,  # no per-app leader topic: riskstream elects in Redis
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_commit_interval=1.0,  # Faust's own commits; FaustRuntime commits past its gaps
        stream_buffer_maxsize=8192,
        # Faust's producer sends nothing here (riskstream produces with confluent-kafka), so
        # its client knows no topic, and aiokafka's periodic refresh of a client with no
        # topics asks for the metadata of every topic in the cluster: 6,057 partitions on a
        # shared test broker, a 2-3 MiB step in every Faust worker's memory every 5 minutes
        # of the soak. The consumer's refresh (its own topics only) keeps the default.
        producer_metadata_max_age_ms=PRODUCER_METADATA_MAX_AGE_MS,
        **broker_credentials(settings),
    )


def raw_topic(app: faust.App, *names: str) -> Any:
    """A Faust topic of undecoded bytes: riskstream's codec decodes, so a bad value is a
    record to count or dead-letter, never a Faust serializer error."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


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
    their effects idempotent). While Redis is away a batch is tried again every second and a
    tick is skipped; any other error stops the worker and is raised from ``run``."""

    def __init__(
        self,
        settings: Settings,
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
                break
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
        """Commit, per owned partition, the offset after its last applied record. Faust
        alone commits only up to its first offset not handed to a stream, and the commit
        markers of riskstream's transactional topics are such offsets, so its commits stalled
        at the first marker (faust-streaming issues 606 and 401) and a restarted worker
        re-read everything since. Faust's own record of the committed offset (set from the
        broker when a partition is assigned) is the floor, so no commit goes backwards."""
        consumer: Any = self.app.consumer  # Faust's Consumer: its commit without ack checks
        committed = consumer._committed_offset
        offsets = offsets_to_commit(consumer.assignment(), self.processed, committed)
        if offsets and await consumer._commit(offsets):
            committed.update(offsets)
            for tp, offset in offsets.items():
                forget_acked_below(consumer._acked[tp], consumer._acked_index[tp], offset)
                consumer._gap[tp].chop(0, offset)

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
