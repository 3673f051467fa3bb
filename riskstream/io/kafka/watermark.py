"""Event-time watermark of a worker over its assigned partitions, with idle partitions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

Where = tuple[str, int]


class EventTimeWatermark:
    """Event time up to which every assigned partition has delivered: the least of their
    latest event times, so one fast partition cannot close windows early.

    A partition this worker has read nothing from yet holds the watermark back. If it has
    nothing waiting either, it counts as having gone quiet at the first record the worker
    read (on any partition): upstream may simply not have reached it yet (a scorer working
    through a backlog one partition at a time), so it moves on from there with the clock,
    as an idle partition does (below), and does not let the busiest partition run ahead.

    A partition that has delivered nothing for ``idle_ms`` and has nothing waiting is idle:
    the wall clock moves its event time on from where it left it (its latest event time plus
    the time since its last delivery), so it no longer holds the watermark where it went
    quiet (as Flink's watermark idleness intends), yet never jumps it to where the busiest
    partition is: a partition that was only briefly starved upstream loses at most its
    pause. A burst followed by silence (a clinic closed for the night) still gets its windows
    closed and judged, within window + lateness + idle time; a replay of old traffic that
    pauses moves on by the pause, not to today. The watermark never goes back: records older
    than it are late, counted by the window store."""

    def __init__(self, idle_ms: int = 0, clock: Callable[[], float] = time.time) -> None:
        self.idle_ms = idle_ms  # 0: a partition is never idle
        self.clock = clock  # wall-clock seconds
        self.latest: dict[Where, int] = {}
        self.delivered_at: dict[Where, float] = {}
        self.emitted: int | None = None
        self.first: tuple[int, float] | None = None  # (event ms, wall s) of the first record
        self._idle_seen = False  # the last positions() found a partition idle

    def observe(self, topic: str, partition: int, event_ms: int) -> None:
        where = (topic, partition)
        self.latest[where] = max(self.latest.get(where, event_ms), event_ms)
        self.delivered_at[where] = self.clock()
        if self.first is None:
            self.first = (event_ms, self.delivered_at[where])

    @property
    def max_seen(self) -> int | None:
        return max(self.latest.values()) if self.latest else None

    def _quiet_ms(self, since_s: float, now_s: float) -> int:
        """How long a partition quiet since ``since_s`` has been idle (0: not idle yet)."""
        quiet = (now_s - since_s) * 1000
        idle = bool(self.idle_ms) and quiet >= self.idle_ms
        self._idle_seen |= idle
        return int(quiet) if idle else 0

    def positions(
        self,
        assigned: Iterable[Where],
        topic: str,
        unread: Callable[[str, int], bool],
        reachable: Callable[[], bool] = lambda: True,
    ) -> dict[int, int | None]:
        """Each assigned partition of ``topic`` → the event time up to which it has
        delivered (its latest, moved on by the clock while it is idle), or None while it
        holds the watermark back; ``unread`` says whether a partition may still hold records
        the worker has not processed. ``reachable`` is asked before any partition counts as
        idle: while the broker does not answer, silence says nothing (a broker restart is
        not a clinic closing), so the idle clocks start again."""
        out = self._positions(assigned, topic, unread, self.clock())
        if self._idle_seen and not reachable():
            now_s = self.clock()
            self.delivered_at = dict.fromkeys(self.delivered_at, now_s)
            if self.first is not None:
                self.first = (self.first[0], now_s)
            out = self._positions(assigned, topic, unread, now_s)
        return out

    def _positions(
        self,
        assigned: Iterable[Where],
        topic: str,
        unread: Callable[[str, int], bool],
        now_s: float,
    ) -> dict[int, int | None]:
        self._idle_seen = False
        out: dict[int, int | None] = {}
        for where in assigned:
            if where[0] != topic:
                continue
            waiting = unread(*where)
            seen = self.latest.get(where)
            if seen is not None:
                quiet_ms = 0 if waiting else self._quiet_ms(self.delivered_at[where], now_s)
                out[where[1]] = seen + quiet_ms
            elif waiting or self.first is None:
                out[where[1]] = None  # records not read yet, or none read at all
            else:  # quiet since the worker's first record, as far as anyone can tell
                quiet_ms = self._quiet_ms(self.first[1], now_s)
                out[where[1]] = self.first[0] + quiet_ms if quiet_ms else None
        return out

    def of(
        self,
        assigned: Iterable[Where],
        topic: str,
        unread: Callable[[str, int], bool],
    ) -> int | None:
        """The watermark over this worker's assigned partitions of ``topic``."""
        positions = self.positions(assigned, topic, unread)
        if not positions or None in positions.values():
            return self.emitted
        current = min(v for v in positions.values() if v is not None)
        self.emitted = current if self.emitted is None else max(self.emitted, current)
        return self.emitted
