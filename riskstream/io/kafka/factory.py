"""Every Kafka client riskstream makes, by profile: one place for the settings each use
needs, so they cannot drift apart between workers.

- ``transactional``: a worker's exactly-once output (scorer, joiner, trainer).
- ``idempotent``: everything else that writes (publishers, monitors, commands).
- ``group``: a worker's input, as a member of the deployment's group.
- ``reader``: a tool or a report reading a topic with ``assign()``: no group, no commits.
- ``admin``: topics and metadata.

Each profile is a pure ``*_config`` function (unit-tested) and a client maker.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.recovering_producer import RecoveringProducer

Extra = Mapping[str, Any] | None


# librdkafka prefetches up to 64 MiB per consumer by default, and a worker that lags keeps
# the queue full; the memory is not given back. Measured on 2026-11-29 (a consumer 400,000
# records of 300 B behind, reading 500 every 20 ms): RSS peaked 78 MiB above its start with
# the default, 47 MiB with 16 MiB, 25 MiB with 4 MiB. 4 MiB is still about 13,000 records of
# readahead, over half a second of the scorer's throughput.
PREFETCH_KBYTES = 4096
# A partition whose prefetch queue is over that bound is not fetched again for this long
# (librdkafka's default, 1 s). Under backlog the scorer drained its 4 MiB in a fraction of
# that and then sat idle: at 0.82 of a core, 52k records/s. With 10 ms: 0.97 of a core and
# 61k records/s (in process, a 200,000-record backlog, 2026-12-04). At low load the queue
# never reaches the bound, so the setting does nothing there.
FETCH_QUEUE_BACKOFF_MS = 10


# A member that died without leaving (SIGKILL, a lost machine) holds its partitions until its
# session times out: Kafka's default, 45 s, is how long a restarted trainer waited before it
# read its request again (measured 2026-12-02: 39 s between "consuming" and the training).
# librdkafka heartbeats from its own thread, so a long training or a busy GIL does not miss
# them; 10 s is over three heartbeats (3 s) and above the broker's 6 s minimum.
SESSION_TIMEOUT_MS = 10_000


# A transaction that begins right after the previous one committed is refused
# (CONCURRENT_TRANSACTIONS) until the coordinator has written that commit's markers, and
# librdkafka asks again after retry.backoff.ms: 100 ms by default, which put a few percent
# of a busy scorer's predictions 100-250 ms late. From 5 ms (doubling up to
# retry.backoff.max.ms, 1 s, for a broker that stays away), 20 s runs of the scorer measured
# p99 44 ms at 1k records/s and 47 ms at 5k/s, against 99 and 124 ms with the default
# (2026-12-04).
RETRY_BACKOFF_MS = 5


def group_config(settings: ClusterSettings, group: str, extra: Extra = None) -> dict[str, Any]:
    """The deployment's group, manual commits, committed data only, bounded prefetch
    (fetched again 10 ms after the bound is reached) and a 10 s session, unless
    RISKSTREAM_KAFKA_QUEUED_MAX_MESSAGES_KBYTES, _FETCH_QUEUE_BACKOFF_MS or
    _SESSION_TIMEOUT_MS says otherwise."""
    defaults = {
        "queued.max.messages.kbytes": PREFETCH_KBYTES,
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
    }
    tuning = {k: v for k, v in defaults.items() if k not in settings.kafka_extra}
    return settings.kafka_config(
        {
            "group.id": f"{settings.topic_prefix}{group}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            **tuning,
            **(extra or {}),
        }
    )


def transactional_config(
    settings: ClusterSettings, group: str, instance: str, extra: Extra = None
) -> dict[str, Any]:
    """The id is stable per instance, so a restarted worker fences and aborts its
    predecessor's open transaction instead of waiting for it to time out."""
    tuning = {"retry.backoff.ms": RETRY_BACKOFF_MS}
    return settings.kafka_config(
        {
            "transactional.id": f"{settings.topic_prefix}{group}-{instance}",
            "transaction.timeout.ms": 30_000,
            "linger.ms": 5,
            **{k: v for k, v in tuning.items() if k not in settings.kafka_extra},
            **(extra or {}),
        }
    )


def idempotent_config(settings: ClusterSettings, extra: Extra = None) -> dict[str, Any]:
    """Retries never duplicate or reorder a partition's records."""
    return settings.kafka_config({"enable.idempotence": True, "linger.ms": 5, **(extra or {})})


def reader_config(settings: ClusterSettings, extra: Extra = None) -> dict[str, Any]:
    """A group id librdkafka requires but that is never joined; no commits; committed data."""
    return settings.kafka_config(
        {
            "group.id": f"riskstream-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # a read to the end waits this long on its last fetch (librdkafka's default: 500)
            "fetch.wait.max.ms": 100,
            **(extra or {}),
        }
    )


def group_consumer(settings: ClusterSettings, group: str, extra: Extra = None) -> Consumer:
    return Consumer(group_config(settings, group, extra))


def transactional_producer(
    settings: ClusterSettings, group: str, instance: str, extra: Extra = None
) -> Producer:
    return Producer(transactional_config(settings, group, instance, extra))


def idempotent_producer(settings: ClusterSettings, extra: Extra = None) -> RecoveringProducer:
    """Replaced when librdkafka has lost every broker address (see recovering_producer)."""
    return RecoveringProducer(idempotent_config(settings, extra))


def reader(settings: ClusterSettings, extra: Extra = None) -> Consumer:
    return Consumer(reader_config(settings, extra))


def admin_client(settings: ClusterSettings, extra: Extra = None) -> AdminClient:
    return AdminClient(settings.kafka_config(dict(extra or {})))
