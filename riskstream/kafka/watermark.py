"""Event-time watermark of a worker over its assigned partitions, with idle partitions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

Where = tuple[str, int]


class EventTimeWatermark:
    """Event time up to which every assigned partition has delivered: the least of their
    latest event times. A partition with nothing read yet holds it back unless it has nothing
    to deliver (caught up), so one fast partition cannot close windows early.

    A partition that has delivered nothing for ``idle_ms`` and has nothing waiting is idle:
    it stops holding the watermark back (as Flink's watermark idleness does). Once every
    partition is idle, the wall clock advances the watermark, so a burst followed by silence
    (a clinic closed for the night) still gets its windows closed and judged. The watermark
    never goes back: records older than it are late, counted by the window store."""

    def __init__(self, idle_ms: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.idle_ms = idle_ms  # 0: a partition is never idle
        self.clock = clock  # wall-clock seconds
        self.latest: dict[Where, int] = {}
        self.delivered_at: dict[Where, float] = {}
        self.emitted: int | None = None

    def observe(self, topic: str, partition: int, event_ms: int) -> None:
        where = (topic, partition)
        self.latest[where] = max(self.latest.get(where, event_ms), event_ms)
        self.delivered_at[where] = self.clock()

    @property
    def max_seen(self) -> int | None:
        return max(self.latest.values()) if self.latest else None

    def _idle(self, where: Where, now_s: float) -> bool:
        at = self.delivered_at.get(where)
        return bool(self.idle_ms) and at is not None and (now_s - at) * 1000 >= self.idle_ms

    def of(
        self,
        assigned: Iterable[Where],
        topic: str,
        unread: Callable[[str, int], bool],
    ) -> int | None:
        """The watermark over the assigned partitions of ``topic``; ``unread`` says whether a
        partition may still hold records the worker has not processed."""
        now_s = self.clock()
        times: list[int] = []
        idle = 0
        for where in assigned:
            if where[0] != topic:
                continue
            waiting = unread(*where)
            seen = self.latest.get(where)
            if seen is not None and not waiting and self._idle(where, now_s):
                idle += 1
            elif seen is not None:
                times.append(seen)
            elif waiting:
                return self.emitted  # it still has records we have not read
        if times:
            current = min(times)
        elif idle:  # every partition that ever delivered is idle: the clock moves time on
            current = max(int(now_s * 1000), self.max_seen or 0)
        else:
            return self.emitted
        self.emitted = current if self.emitted is None else max(self.emitted, current)
        return self.emitted
