"""Every Kafka client riskstream makes, by profile: one place for the settings each use
needs, so they cannot drift apart between workers.

- ``transactional_producer``: a worker's exactly-once output (scorer, joiner, trainer).
- ``idempotent_producer``: everything else that writes (publishers, monitors, commands).
- ``group_consumer``: a worker's input, as a member of the deployment's group.
- ``reader``: a tool or a report reading a topic, with no group and no commits.
- ``admin_client``: topics and metadata.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from riskstream.settings import Settings


def group_consumer(
    settings: Settings, group: str, extra: Mapping[str, Any] | None = None
) -> Consumer:
    """A worker's consumer: the deployment's group, manual commits, committed data only."""
    return Consumer(
        settings.kafka_config(
            {
                "group.id": f"{settings.topic_prefix}{group}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                **(extra or {}),
            }
        )
    )


def transactional_producer(
    settings: Settings, group: str, instance: str, extra: Mapping[str, Any] | None = None
) -> Producer:
    """A worker's transactional producer. The id is stable per instance, so a restarted
    worker fences and aborts its predecessor's open transaction instead of waiting for it to
    time out."""
    return Producer(transactional_config(settings, group, instance, extra))


def transactional_config(
    settings: Settings, group: str, instance: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The librdkafka configuration of a worker's transactional producer."""
    return settings.kafka_config(
        {
            "transactional.id": f"{settings.topic_prefix}{group}-{instance}",
            "transaction.timeout.ms": 30_000,
            "linger.ms": 5,
            **(extra or {}),
        }
    )


def idempotent_producer(settings: Settings, extra: Mapping[str, Any] | None = None) -> Producer:
    """A producer whose retries never duplicate or reorder a partition's records."""
    return Producer(
        settings.kafka_config({"enable.idempotence": True, "linger.ms": 5, **(extra or {})})
    )


def reader(settings: Settings, extra: Mapping[str, Any] | None = None) -> Consumer:
    """A consumer for ``assign()``: a group id librdkafka requires but never joins, no
    commits, committed data only."""
    return Consumer(
        settings.kafka_config(
            {
                "group.id": f"riskstream-reader-{uuid.uuid4().hex}",  # required, never joined
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                **(extra or {}),
            }
        )
    )


def admin_client(settings: Settings, extra: Mapping[str, Any] | None = None) -> AdminClient:
    return AdminClient(settings.kafka_config(dict(extra or {})))
