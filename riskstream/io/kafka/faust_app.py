"""The Faust app of a worker, and the one module that reaches into faust-streaming's
internals (each use says why; ``tests/unit/riskstream/io/kafka/test_faust_app.py`` pins them, and
faust-streaming is bounded below its next minor release).

``faust_app`` builds one Faust app per worker from the settings (group id with the topic
prefix, credentials from the ``RISKSTREAM_KAFKA_*`` librdkafka options, tables under the state
dir, no web server: the worker's ``OpsServer`` answers). Two things Faust's public API does not
offer are done here:

- its consumer reads committed data only: the predictions and labeled examples are written in
  transactions, and an aborted batch must not be counted (Faust reads committed data only in
  its own exactly-once mode);
- ``commit_processed`` commits past the offsets no stream is handed (transaction markers),
  where Faust's own commit stalls (faust-streaming issues 401 and 606).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from riskstream.core.errors import ConfigError
from riskstream.core.slices import ClusterSettings

# mode names a service's logger after the module its class is defined in; the subclasses here
# narrate under Faust's name, so they are as quiet as Faust (riskstream.core.logs).
FAUST_LOG = logging.getLogger("faust.riskstream")
PRODUCER_METADATA_MAX_AGE_MS = 7 * 24 * 3600 * 1000  # a week: see faust_app


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


def broker_credentials(settings: ClusterSettings) -> dict[str, Any]:
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


def faust_app(settings: ClusterSettings, group: str) -> faust.App:
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
        # per partition and fetch (Faust's default: 1 MiB). With the scorer writing 50k
        # predictions/s, a drift monitor's fetch buffers over its 12 partitions took its peak
        # RSS from 282 to 286-292 MiB, past the 300 MB bar; 128 KiB: 276-277 MiB, the scorer's
        # rate unchanged (bench/NOTES.md). The broker still returns a larger record whole.
        consumer_max_fetch_size=128 * 1024,
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


async def commit_processed(consumer: Any, processed: dict[tuple[str, int], int]) -> None:
    """Commit, per partition ``consumer`` (Faust's) owns, the offset after its last record in
    ``processed``. Faust alone commits only up to its first offset not handed to a stream, and
    the commit markers of riskstream's transactional topics are such offsets, so its commits
    stalled at the first marker (faust-streaming issues 606 and 401) and a restarted worker
    re-read everything since. Faust's own record of the committed offset (set from the broker
    when a partition is assigned) is the floor, so no commit goes backwards."""
    committed = consumer._committed_offset
    offsets = offsets_to_commit(consumer.assignment(), processed, committed)
    if offsets and await consumer._commit(offsets):  # Faust's commit without its ack checks
        committed.update(offsets)
        for tp, offset in offsets.items():
            forget_acked_below(consumer._acked[tp], consumer._acked_index[tp], offset)
            consumer._gap[tp].chop(0, offset)
