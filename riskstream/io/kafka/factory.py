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

Extra = Mapping[str, Any] | None


# librdkafka prefetches up to 64 MiB per consumer by default, and a worker that lags keeps
# the queue full; the memory is not given back. Measured on 2026-11-29 (a consumer 400,000
# records of 300 B behind, reading 500 every 20 ms): RSS peaked 78 MiB above its start with
# the default, 47 MiB with 16 MiB, 25 MiB with 4 MiB. 4 MiB is still about 13,000 records of
# readahead, over half a second of the scorer's throughput.
PREFETCH_KBYTES = 4096


# A member that died without leaving (SIGKILL, a lost machine) holds its partitions until its
# session times out: Kafka's default, 45 s, is how long a restarted trainer waited before it
# read its request again (measured 2026-12-02: 39 s between "consuming" and the training).
# librdkafka heartbeats from its own thread, so a long training or a busy GIL does not miss
# them; 10 s is over three heartbeats (3 s) and above the broker's 6 s minimum.
SESSION_TIMEOUT_MS = 10_000


def group_config(settings: ClusterSettings, group: str, extra: Extra = None) -> dict[str, Any]:
    """The deployment's group, manual commits, committed data only, bounded prefetch and a
    10 s session (unless RISKSTREAM_KAFKA_QUEUED_MAX_MESSAGES_KBYTES or
    RISKSTREAM_KAFKA_SESSION_TIMEOUT_MS says otherwise)."""
    defaults = {
        "queued.max.messages.kbytes": PREFETCH_KBYTES,
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
    return settings.kafka_config(
        {
            "transactional.id": f"{settings.topic_prefix}{group}-{instance}",
            "transaction.timeout.ms": 30_000,
            "linger.ms": 5,
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


def idempotent_producer(settings: ClusterSettings, extra: Extra = None) -> Producer:
    return Producer(idempotent_config(settings, extra))


def reader(settings: ClusterSettings, extra: Extra = None) -> Consumer:
    return Consumer(reader_config(settings, extra))


def admin_client(settings: ClusterSettings, extra: Extra = None) -> AdminClient:
    return AdminClient(settings.kafka_config(dict(extra or {})))
