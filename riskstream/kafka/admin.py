"""Creates the catalog's topics idempotently and checks existing ones against it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from riskstream.errors import ServiceUnavailableError, TopicError
from riskstream.settings import Settings
from riskstream.topics import CATALOG, TopicSpec


@dataclass(frozen=True)
class TopicState:
    """What ``ensure_topics`` found or did for one topic."""

    name: str
    partitions: int
    created: bool


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_config())


def wait_for_broker(settings: Settings, timeout: float = 10.0) -> int:
    """Return the broker count once the cluster answers a metadata request."""
    try:
        metadata = admin_client(settings).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ServiceUnavailableError(
            "Kafka did not answer a metadata request",
            bootstrap=settings.kafka_bootstrap,
            error=exc.args[0].str() if exc.args else str(exc),
            hint="start the local stack with `riskstream stack up`, or point "
            "RISKSTREAM_KAFKA_BOOTSTRAP at a running cluster",
        ) from None
    return len(metadata.brokers)


def ensure_topics(
    settings: Settings,
    specs: Iterable[TopicSpec] = CATALOG,
    timeout: float = 30.0,
) -> list[TopicState]:
    """Create missing topics; verify the partition count of existing ones.

    A topic that exists with another partition count raises :class:`TopicError`: keys would
    map to different partitions than the processors expect, so it is never used silently.
    """
    admin = admin_client(settings)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise ServiceUnavailableError(
            "Kafka did not answer while listing topics",
            bootstrap=settings.kafka_bootstrap,
            hint="is the broker up? `riskstream stack status`",
        ) from exc
    states: list[TopicState] = []
    to_create: list[NewTopic] = []
    for entry in specs:
        name = settings.topic(entry.name)
        wanted = entry.partitions or settings.topic_partitions
        if name in existing:
            have = len(existing[name].partitions)
            if have != wanted:
                raise TopicError(
                    "topic exists with a different partition count than the catalog",
                    topic=name,
                    existing=have,
                    expected=wanted,
                    hint="delete and recreate the topic, or set RISKSTREAM_TOPIC_PARTITIONS "
                    "to match, or use another RISKSTREAM_TOPIC_PREFIX",
                )
            states.append(TopicState(name, have, created=False))
            continue
        new = NewTopic(
            name,
            num_partitions=wanted,
            replication_factor=settings.topic_replication,
            config=entry.config(),
        )
        to_create.append(new)
    if to_create:
        futures = admin.create_topics(to_create, operation_timeout=timeout)
        for new in to_create:
            try:
                futures[new.topic].result(timeout=timeout)
                created = True
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # lost a race: fine
                    raise TopicError(
                        "could not create topic", topic=new.topic, error=error.str()
                    ) from None
                created = False
            states.append(TopicState(new.topic, new.num_partitions, created=created))
        _wait_until_visible(admin, [new.topic for new in to_create], timeout)
    return states


def _wait_until_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Creation returns once the controller accepts it; wait until the broker serves it too,
    so the caller can produce, consume or describe at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout).topics
        if all(n in topics and not topics[n].error for n in names):
            return
        time.sleep(0.1)
    raise TopicError("created topics did not appear in the metadata", topics=",".join(names))
