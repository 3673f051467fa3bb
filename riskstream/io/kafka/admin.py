"""Creates the catalog's topics idempotently and checks existing ones against it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from riskstream.core.errors import CredentialsRefusedError, ServiceUnavailableError, TopicError
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import CATALOG, TopicSpec, check_retention_days, retention_ms
from riskstream.io.kafka.factory import admin_client


@dataclass(frozen=True)
class TopicState:
    """What ``ensure_topics`` found or did for one topic."""

    name: str
    partitions: int
    created: bool


log = logging.getLogger(__name__)

# What a broker that answers but refuses us reports (through error_cb, not the failed call).
_CHECK_SASL = "check RISKSTREAM_KAFKA_SASL_USERNAME and RISKSTREAM_KAFKA_SASL_PASSWORD"
_REFUSALS = {
    KafkaError._AUTHENTICATION: _CHECK_SASL,
    KafkaError.SASL_AUTHENTICATION_FAILED: _CHECK_SASL,
    KafkaError._SSL: "check RISKSTREAM_KAFKA_SSL_CA_LOCATION (the CA that signed the broker)",
}


class RefusalWatch:
    """An ``error_cb`` that keeps a broker's refusals of our credentials or certificate, so a
    metadata call that fails can say why instead of "Kafka did not answer"."""

    def __init__(self) -> None:
        self.refusals: list[KafkaError] = []

    def __call__(self, error: KafkaError) -> None:
        if error.code() in _REFUSALS:
            self.refusals.append(error)

    def raise_if_refused(self, settings: ClusterSettings) -> None:
        if self.refusals:
            first = self.refusals[0]
            raise CredentialsRefusedError(
                "Kafka refused riskstream's credentials or certificate",
                bootstrap=settings.kafka_bootstrap,
                error=first.str(),
                hint=_REFUSALS[first.code()],
            )


def watched_admin(settings: ClusterSettings) -> tuple[AdminClient, RefusalWatch]:
    """An admin client whose error callbacks feed a RefusalWatch."""
    watch = RefusalWatch()
    return admin_client(settings, {"error_cb": watch}), watch


def _metadata(
    admin: AdminClient, watch: RefusalWatch, settings: ClusterSettings, timeout: float
) -> Any:
    """The cluster's metadata; a refusal of our credentials raises CredentialsRefusedError,
    any other failure KafkaException."""
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException:
        admin.poll(0.5)  # serve the error callbacks that say why
        watch.raise_if_refused(settings)
        raise


def wait_for_broker(settings: ClusterSettings, timeout: float = 10.0) -> int:
    """Return the broker count once the cluster answers a metadata request."""
    try:
        metadata = _metadata(*watched_admin(settings), settings, timeout)
    except KafkaException as exc:
        raise ServiceUnavailableError(
            "Kafka did not answer a metadata request",
            bootstrap=settings.kafka_bootstrap,
            error=exc.args[0].str() if exc.args else str(exc),
            hint="start the local stack with `riskstream stack up`, or point "
            "RISKSTREAM_KAFKA_BOOTSTRAP at a running cluster",
        ) from None
    return len(metadata.brokers)


def partition_count(settings: ClusterSettings, topic: str, timeout: float = 30.0) -> int:
    """How many partitions ``topic`` has (it must exist: see ``ensure_topics``)."""
    return len(partitions_in(_metadata(*watched_admin(settings), settings, timeout), topic))


def partitions_in(metadata: Any, topic: str) -> list[int]:
    """The partitions of ``topic`` in a metadata answer (any client's ``list_topics``)."""
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicError(
            "topic not found",
            topic=topic,
            hint="check RISKSTREAM_TOPIC_PREFIX, or create the catalog's topics: "
            "`riskstream topics create`",
        )
    return sorted(found.partitions)


def ensure_topics(
    settings: ClusterSettings,
    specs: Iterable[TopicSpec[Any]] = CATALOG,
    timeout: float = 30.0,
) -> list[TopicState]:
    """Create missing topics; verify the partition count of existing ones, and set their
    retention to the configured one where it differs (a changed
    RISKSTREAM_TOPIC_RETENTION_DAYS, or a catalog default changed by an upgrade).

    A topic that exists with another partition count raises :class:`TopicError`: keys would
    map to different partitions than the processors expect, so it is never used silently.
    """
    check_retention_days(settings.topic_retention_days)
    admin, watch = watched_admin(settings)
    try:
        existing = _metadata(admin, watch, settings, timeout).topics
    except KafkaException as exc:
        raise ServiceUnavailableError(
            "Kafka did not answer while listing topics",
            bootstrap=settings.kafka_bootstrap,
            hint="is the broker up? `riskstream stack status`",
        ) from exc
    states: list[TopicState] = []
    to_create: list[NewTopic] = []
    retained: dict[str, int] = {}  # existing topics with a retention: the one wanted
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
            if entry.cleanup_policy == "delete":
                retained[name] = retention_ms(entry, settings.topic_retention_days)
            continue
        new = NewTopic(
            name,
            num_partitions=wanted,
            # -1: the broker's default.replication.factor (KIP-464)
            replication_factor=settings.topic_replication or -1,
            config=entry.config(retention_ms(entry, settings.topic_retention_days)),
        )
        to_create.append(new)
    if to_create:
        states += _create(admin, to_create, timeout)
    if retained:
        _set_retention(admin, retained, timeout)
    return states


def _set_retention(admin: AdminClient, wanted: dict[str, int], timeout: float) -> None:
    """Set ``retention.ms`` of the topics in ``wanted`` where the broker has another value.
    A principal without the rights to describe or alter topic configs is warned, not
    stopped: the topics work, only their retention is not the configured one."""
    hint = (
        "grant the principal DESCRIBE_CONFIGS and ALTER_CONFIGS on riskstream's topics, or "
        "set retention.ms by hand to what `riskstream topics list` shows"
    )
    try:
        described = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in wanted],
            request_timeout=timeout,
        )
        changes = []
        for resource, future in described.items():
            entry = future.result(timeout=timeout).get("retention.ms")
            if entry is None or entry.value != str(wanted[resource.name]):
                value = str(wanted[resource.name])
                change = ConfigEntry(
                    "retention.ms", value, incremental_operation=AlterConfigOpType.SET
                )
                changes.append(
                    ConfigResource(ResourceType.TOPIC, resource.name, incremental_configs=[change])
                )
        for resource, future in admin.incremental_alter_configs(changes).items() if changes else ():
            future.result(timeout=timeout)
            log.info("topic %s: retention set to %s ms", resource.name, wanted[resource.name])
    except KafkaException as exc:
        error = exc.args[0].str() if exc.args else str(exc)
        log.warning("could not check or set topic retention (%s): %s", error, hint)


def _create(admin: AdminClient, topics: list[NewTopic], timeout: float) -> list[TopicState]:
    """Create ``topics`` and wait until the metadata lists them; one another client created
    meanwhile counts as there (not created here)."""
    futures = admin.create_topics(topics, operation_timeout=timeout)
    states = []
    for new in topics:
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
    _wait_until_visible(admin, [new.topic for new in topics], timeout)
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
