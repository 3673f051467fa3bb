"""Follow topics as a user's consumer would: from the start, typed, committing nothing.

The demo narrates from here (alerts, retrain requests, model versions) rather than from
the workers' memory, so long-running workers need keep no history for anyone to poll.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.factory import reader
from riskstream.io.kafka.reading import partitions_of
from riskstream.schemas import CodecError
from riskstream.schemas.events import Event

log = logging.getLogger(__name__)


class EventFollower:
    """Reads ``kinds`` (catalog topic name → event class) from their first offset on."""

    def __init__(self, settings: ClusterSettings, kinds: Mapping[str, type[Event]]) -> None:
        self.codec = codec_for(settings)
        self.kinds = {settings.topic(name): kind for name, kind in kinds.items()}
        self.settings = settings
        self.skipped = 0  # undecodable messages: another writer's, never ours

    @cached_property
    def consumer(self) -> Consumer:
        """Assigned to every partition's first offset on first use."""
        consumer = reader(self.settings)
        consumer.assign(
            [
                TopicPartition(topic, p, OFFSET_BEGINNING)
                for topic in self.kinds
                for p in partitions_of(consumer, topic)
            ]
        )
        return consumer

    def poll(self, timeout: float) -> list[Event]:
        """The events that arrived within ``timeout``, in partition order."""
        events = []
        for message in self.consumer.consume(500, timeout):
            if message.error():
                continue
            try:
                events.append(
                    self.codec.decode_event(message.value(), self.kinds[message.topic() or ""])
                )
            except CodecError:
                self.skipped += 1
        return events

    def close(self) -> None:
        self.consumer.close()
