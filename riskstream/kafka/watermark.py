"""Event-time watermark of a worker over its assigned partitions."""

from __future__ import annotations

from collections.abc import Callable, Iterable


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

    def of(
        self,
        assigned: Iterable[tuple[str, int]],
        topic: str,
        unread: Callable[[str, int], bool],
    ) -> int | None:
        """The watermark over the assigned partitions of ``topic``; ``unread`` says whether a
        partition may still hold records the worker has not processed."""
        times = []
        for where in assigned:
            if where[0] != topic:
                continue
            seen = self.latest.get(where)
            if seen is not None:
                times.append(seen)
            elif unread(*where):
                return None  # it still has records we have not read
        return min(times) if times else None
