"""Event-time watermark of a consumer over its assigned partitions."""

from __future__ import annotations

from confluent_kafka import Consumer


class EventTimeWatermark:
    """Event time up to which every assigned partition has delivered: the least of their
    latest event times. A partition with nothing read yet holds it back unless it has nothing
    to deliver (caught up), so one fast partition cannot close windows early."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, int], int] = {}

    def observe(self, topic: str, partition: int, event_ms: int) -> None:
        where = (topic, partition)
        self.latest[where] = max(self.latest.get(where, event_ms), event_ms)

    @property
    def max_seen(self) -> int | None:
        return max(self.latest.values()) if self.latest else None

    def of(self, consumer: Consumer, topic: str) -> int | None:
        """The watermark over the consumer's assigned partitions of ``topic``."""
        times = []
        for tp in consumer.assignment():
            if tp.topic != topic:
                continue
            seen = self.latest.get((tp.topic, tp.partition))
            if seen is not None:
                times.append(seen)
                continue
            _, high = consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            position = consumer.position([tp])[0].offset
            if high > 0 and (position < 0 or position < high):
                return None  # it still has records we have not read
        return min(times) if times else None
