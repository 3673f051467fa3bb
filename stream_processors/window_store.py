"""Windows in Redis: atomic, replay-safe updates, one closer per window, and Redis restarts
detected rather than silently absorbed.

Keys (all under the deployment prefix and the hash tag ``{<prefix><kind>}``, so that a Redis
Cluster keeps a store in one slot; all expiring after ``ttl``), for a store of ``kind``
``window`` (the drift monitor) or ``perf`` (the performance monitor):

- ``riskstream:<kind>:<version>:<start>``: hash of counts: about 100 fields, a few kB each;
- ``riskstream:<kind>:<version>:<start>:offsets``: partition → last offset applied;
- ``riskstream:<kind>:<version>:<start>:closed``: set once, by the worker that closes it;
- ``riskstream:<kind>s:<version>``: sorted set of window starts still open;
- ``riskstream:<kind>-alerting[:<version>]``: hash of the conditions currently breached, each
  with the highest severity it fired at (hysteresis and escalation state); the drift
  monitor keeps one for all versions, so a new champion's first window resolves what the
  old one's windows raised;
- ``riskstream:<kind>-volume[:<segment>]``: totals of the last closed windows (the volume
  norm), of the stream and of each segment; ``<kind>-volume-segments`` names the segments;
- ``riskstream:<kind>-segments``: the sources admitted to a segment of their own;
- ``riskstream:<kind>-takeovers``: sorted set, member ``<version>@<previous version>``
  scored by the first window binned over that version: every worker bins a window over the
  same version, so a promotion never splits a window's counts;
- ``riskstream:<kind>-positions``: partition → event time up to which its owner has
  delivered it (only ever raised): the watermark is the least over *every* partition of the
  topic, so a worker never closes a window another worker's partitions are still filling;
- ``riskstream:<tag>:epoch``: a random id set once per lifetime of the Redis holding the store;
- ``riskstream:<kind>-incomplete``: event time up to which windows lost counts in a restart.

An update applies only if each of its partitions' last applied offset is still what the worker
read (compare-and-set in one Lua script; a batch's partitions go into a window in one update),
and the worker counts only records past those offsets, so a batch replayed after a crash or a
rebalance is never counted twice. Records for a window
already closed are counted in its ``late`` field instead (once, by the same offset guard):
never judged, never silently dropped. The script also checks
the epoch: Redis keeps nothing on disk, so after a restart the epoch is gone, the update is
refused, and the worker marks every window that may have lost counts as incomplete.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

from redis.commands.core import Script

from riskstream.core.slices import ClusterSettings
from riskstream.io.redis_client import RedisClient, connect
from riskstream.models.monitoring.segments import OTHER, segment_of, tracked_limit
from riskstream.stream_processors.window_scripts import (
    ADMIT,
    ADVANCE_FROM,
    APPLY,
    LATE,
    RAISE_POSITIONS,
    RAISE_TO,
    RESTARTED,
)

Item = TypeVar("Item")
Partition = TypeVar("Partition", int, str)  # a topic partition, or a track of its own


class WindowStore:
    def __init__(
        self,
        settings: ClusterSettings,
        kind: str = "window",
        ttl_s: int = 24 * 3600,
        *,
        closes_windows: bool = True,
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.ttl_s = ttl_s
        self._epoch_key = self._key("epoch")
        self._incomplete_key = self._key(f"{kind}-incomplete")
        self._takeovers_key = self._key(f"{kind}-takeovers")
        self.epoch: str | None = None
        # windows this worker counted into that were not yet due to close: what a Redis
        # restart takes with it unannounced (no record of theirs may come again)
        self._open_counted: set[tuple[str, int]] = set()
        self._closes_windows = closes_windows  # False: a store of totals nobody closes

    # Connected on first use, not in the constructor: a worker is built, then started.
    @cached_property
    def redis(self) -> RedisClient:
        return connect(self.settings)

    def connect(self) -> None:
        """Make the client now, as a worker starts (a Redis that is away is not an error
        here: the worker waits for it when it first needs it)."""
        _ = self.redis

    @cached_property
    def _apply(self) -> Script:
        return self.redis.register_script(APPLY)

    @cached_property
    def _raise_to(self) -> Script:
        return self.redis.register_script(RAISE_TO)

    @cached_property
    def _raise_positions(self) -> Script:
        return self.redis.register_script(RAISE_POSITIONS)

    @cached_property
    def _admit(self) -> Script:
        return self.redis.register_script(ADMIT)

    @cached_property
    def advance_from(self) -> Script:
        """The sequential test's state write (``sequential_watch``), atomic and only over
        the state it was computed from."""
        return self.redis.register_script(ADVANCE_FROM)

    def _key(self, *parts: object) -> str:
        """Every key of this store shares one hash tag: on a Redis Cluster the Lua scripts'
        keys are then in one slot."""
        return self.settings.redis_slot_key(self.kind, *parts)

    def window_key(self, version: str, start: int) -> str:
        return self._key(self.kind, version, start)

    def _index_key(self, version: str) -> str:
        return self._key(f"{self.kind}s", version)

    def _state_key(self, version: str | None) -> str:
        if version is None:
            return self._key(f"{self.kind}-alerting")
        return self._key(f"{self.kind}-alerting", version)

    # -- Redis lifetime ---------------------------------------------------------------------

    def check_epoch(self) -> bool:
        """Learn this Redis lifetime's epoch; True when it differs from the one seen before
        (Redis restarted and lost every key)."""
        self.redis.set(self._epoch_key, uuid.uuid4().hex, nx=True)
        raw = self.redis.get(self._epoch_key)
        current = raw.decode() if isinstance(raw, bytes) else str(raw)
        restarted = self.epoch is not None and current != self.epoch
        self.epoch = current
        return restarted

    def mark_incomplete_through(self, event_ms: int) -> int:
        """Windows starting at or before ``event_ms`` may have lost counts; returns the mark
        (the highest any worker set)."""
        return int(self._raise_to(keys=[self._incomplete_key], args=[event_ms, self.ttl_s]))

    def incomplete_through(self) -> int:
        value = self.redis.get(self._incomplete_key)
        return int(value) if value is not None else -1

    def mark_window_incomplete(self, version: str, start: int) -> None:
        self.redis.hset(self.window_key(version, start), "incomplete", 1)

    def _restarted(self, on_restart: Callable[[], None]) -> None:
        """Redis lost every window. A window whose records this worker had all counted, and
        that was not closed yet, would otherwise vanish: none of its records comes again to
        re-create it, so it is neither judged nor reported. Each goes back on its version's
        index, marked incomplete, and is closed as one; then ``on_restart``."""
        lost = sorted(self._open_counted)
        if lost:
            pipe = self.redis.pipeline()
            for version, start in lost:
                key, index = self.window_key(version, start), self._index_key(version)
                pipe.hset(key, "incomplete", 1)
                pipe.expire(key, self.ttl_s)
                pipe.zadd(index, {str(start): start})
                pipe.expire(index, self.ttl_s)
            pipe.execute()
        on_restart()

    # -- which version a window is binned over --------------------------------------------

    def takeovers(self) -> list[tuple[int, str]]:
        """(first window start, version) of each champion takeover, oldest first."""
        entries = self.redis.zrange(self._takeovers_key, 0, -1, withscores=True)
        return [(int(score), member.decode().split("@")[0]) for member, score in entries]

    def propose_takeover(self, version: str, previous: str | None, first_start: int) -> None:
        """Record that ``version`` replaced ``previous`` from window ``first_start`` on, unless
        another worker recorded that takeover first (its boundary stands)."""
        pipe = self.redis.pipeline()
        pipe.zadd(self._takeovers_key, {f"{version}@{previous or ''}": first_start}, nx=True)
        pipe.expire(self._takeovers_key, self.ttl_s)
        pipe.execute()

    def latest_open(self, version: str) -> int | None:
        """The start of the latest window still open for ``version``, if any."""
        return self._open_at(version, -1)

    def earliest_window(self, version: str) -> int | None:
        """The start of the earliest window of ``version`` still in Redis, open or closed
        (a scan of the closed markers: for a reader that starts, not for every batch)."""
        head = self.window_key(version, 0)[: -len(":0")]
        starts = [
            int((raw.decode() if isinstance(raw, bytes) else raw)[len(head) + 1 : -len(":closed")])
            for raw in self.redis.scan_iter(match=f"{head}:*:closed", count=1000)
        ]
        opened = self._open_at(version, 0)
        found = [*starts, *([opened] if opened is not None else [])]
        return min(found) if found else None

    def _open_at(self, version: str, rank: int) -> int | None:
        found = self.redis.zrange(self._index_key(version), rank, rank, withscores=True)
        return int(found[0][1]) if found else None

    # -- windows ----------------------------------------------------------------------------

    def last_applied(
        self, version: str, start: int, partitions: Sequence[Partition]
    ) -> dict[Partition, int]:
        """Each partition's last offset counted into the window (-1: none yet)."""
        key = f"{self.window_key(version, start)}:offsets"
        values = self.redis.hmget(key, [str(p) for p in partitions])
        return {p: int(v) if v is not None else -1 for p, v in zip(partitions, values, strict=True)}

    def apply(
        self,
        version: str,
        start: int,
        guards: Sequence[tuple[Partition, int, int]],
        fields: Counter[str],
        items: int = 0,
    ) -> int:
        """Add ``fields`` if each guard's partition (partition, expected last offset, new last
        offset) still has its expected last offset applied: 1 applied, 0 another worker moved
        an offset, ``RESTARTED`` Redis lost its state, ``LATE`` the window was closed (its
        ``late`` count grew by ``items``)."""
        if self.epoch is None:
            self.check_epoch()
        key = self.window_key(version, start)
        args: list[Any] = [self.epoch, self.ttl_s, start, items, len(guards)]
        for guard in guards:
            args += guard
        for name, count in fields.items():
            args += [name, count]
        keys = [key, f"{key}:offsets", self._index_key(version), self._epoch_key, f"{key}:closed"]
        return int(self._apply(keys=keys, args=args))

    def add_new(
        self,
        version: str,
        start: int,
        partition: Partition,
        items: Sequence[Item],
        offset_of: Callable[[Item], int],
        fields_of: Callable[[list[Item]], Counter[str]],
        on_restart: Callable[[], None],
        on_late: Callable[[int], None] | None = None,
    ) -> int:
        """``add_across`` for one partition's items."""
        return self.add_across(
            version, start, {partition: items}, offset_of, fields_of, on_restart, on_late
        )

    def add_across(
        self,
        version: str,
        start: int,
        by_partition: Mapping[Partition, Sequence[Item]],
        offset_of: Callable[[Item], int],
        fields_of: Callable[[list[Item]], Counter[str]],
        on_restart: Callable[[], None],
        on_late: Callable[[int], None] | None = None,
    ) -> int:
        """Count the items (per partition, in offset order) that the window has not counted
        yet, in one update for every partition; returns how many were new. Retries when
        another worker moved an offset, and calls ``on_restart`` (once per restart) when
        Redis lost its state; items for a closed window are counted as late (``on_late``
        hears how many) and not returned."""
        while True:
            last = self.last_applied(version, start, list(by_partition))
            fresh: list[Item] = []
            guards: list[tuple[Partition, int, int]] = []
            for partition, items in by_partition.items():
                new = [item for item in items if offset_of(item) > last[partition]]
                if new:
                    fresh += new
                    guards.append((partition, last[partition], offset_of(new[-1])))
            if not fresh:
                return 0
            result = self.apply(version, start, guards, fields_of(fresh), len(fresh))
            if result == RESTARTED:
                if self.check_epoch():
                    self._restarted(on_restart)
                continue
            if result == LATE:
                if on_late is not None:
                    on_late(len(fresh))
                return 0
            if result:
                if self._closes_windows:
                    self._open_counted.add((version, start))
                return len(fresh)

    def shared_watermark(self, positions: dict[int, int | None], partitions: int) -> int | None:
        """Record this worker's partition positions, then the watermark over all of the
        topic's ``partitions``, whoever owns them: None while any has no position yet. A
        partition a worker holds back (None) keeps the last position any owner recorded."""
        key = self._key(f"{self.kind}-positions")
        args: list[Any] = []
        for partition, position in positions.items():
            if position is not None:
                args += [partition, position]
        if args:
            self._raise_positions(keys=[key], args=[*args, self.ttl_s])
        stored = self.redis.hmget(key, [str(p) for p in range(partitions)])
        known = [int(v) for v in stored if v is not None]
        return min(known) if known and len(known) == partitions else None

    def close_due(
        self,
        versions: Sequence[str],
        horizon: int,
        evaluate: Callable[[str, int], None],
        on_restart: Callable[[], None],
    ) -> None:
        """Evaluate every open window that started at or before ``horizon`` (the watermark
        minus size and lateness), each in exactly one worker; first notice a Redis restart."""
        if self.check_epoch():
            self._restarted(on_restart)
        self._open_counted = {w for w in self._open_counted if w[1] > horizon}
        due = [(start, v) for v in versions for start in self.closable(v, horizon + 1)]
        for start, version in sorted(due):  # in event-time order across versions
            if self.claim_close(version, start):
                evaluate(version, start)

    def closable(self, version: str, before_start: int) -> list[int]:
        """Open windows that started before ``before_start``."""
        starts = self.redis.zrangebyscore(self._index_key(version), "-inf", f"({before_start}")
        return [int(s) for s in starts]

    def is_closed(self, version: str, start: int) -> bool:
        """Whether a worker has claimed the window at ``start`` to judge it."""
        return bool(self.redis.exists(f"{self.window_key(version, start)}:closed"))

    def claim_close(self, version: str, start: int) -> bool:
        """True for exactly one worker per window: the one that closes it."""
        key = f"{self.window_key(version, start)}:closed"
        claimed = bool(self.redis.set(key, b"1", nx=True, ex=self.ttl_s))
        self.redis.zrem(self._index_key(version), start)
        return claimed

    def closed_windows(self, keep: int) -> list[tuple[str, int]]:
        """The ``keep`` latest closed windows still in Redis, as (version, start), oldest
        first: what the console charts (a read; workers never call it)."""
        head = self.window_key("", 0)[: -len(":0") - 1]  # the key up to the version
        found = []
        for raw in self.redis.scan_iter(match=f"{head}:*:closed", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else raw
            version, start = key[len(head) + 1 : -len(":closed")].rsplit(":", 1)
            found.append((int(start), version))
        return [(version, start) for start, version in sorted(found)[-keep:]]

    def counts(self, version: str, start: int) -> dict[bytes, bytes]:
        return dict(self.redis.hgetall(self.window_key(version, start)))

    # -- hysteresis and history -------------------------------------------------------------

    def breached(self, version: str | None = None) -> dict[str, str]:
        """Condition → the highest severity it fired at ('' for none), of ``version``'s
        windows, or of every version's when None."""
        raw = self.redis.hgetall(self._state_key(version))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def set_breached(self, version: str | None, names: dict[str, str]) -> None:
        key = self._state_key(version)
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if names:
            mapping: dict[str | bytes, str] = {name: level for name, level in names.items()}
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, self.ttl_s)
        pipe.execute()

    def first_to_report(self, what: str) -> bool:
        """True for exactly one caller per ``what`` (within the TTL): one alert per event
        however many workers see it."""
        key = self._key(f"{self.kind}-reported", what)
        return bool(self.redis.set(key, b"1", nx=True, ex=self.ttl_s))

    def _volume_key(self, segment: str | None) -> str:
        if segment is None:
            return self._key(f"{self.kind}-volume")
        return self._key(f"{self.kind}-volume", segment)

    def volume_history(self, keep: int, segment: str | None = None) -> list[int]:
        values = self.redis.lrange(self._volume_key(segment), 0, keep - 1)
        return [int(v) for v in reversed(values)]

    def push_volume(self, total: int, keep: int, segment: str | None = None) -> None:
        key = self._volume_key(segment)
        pipe = self.redis.pipeline()
        pipe.lpush(key, total)
        pipe.ltrim(key, 0, keep - 1)
        pipe.expire(key, self.ttl_s)
        if segment is not None:  # judged again when it falls silent
            pipe.sadd(self._key(f"{self.kind}-volume-segments"), segment)
            pipe.expire(self._key(f"{self.kind}-volume-segments"), self.ttl_s)
        pipe.execute()

    def volume_segments(self) -> set[str]:
        """Segments with a volume history: a clinic that falls silent is judged on it."""
        members = self.redis.smembers(self._key(f"{self.kind}-volume-segments"))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def admit_segment(self, name: str, limit: int) -> bool:
        """Whether ``name`` has (or now gets, while fewer than ``limit`` have) a segment."""
        key = self._key(f"{self.kind}-segments")
        return bool(self._admit(keys=[key], args=[name, limit, self.ttl_s]))


class SegmentGate:
    """Which source each record counts under (see ``segments``): admission is decided in
    Redis, first come, so every worker agrees; remembered here per source, refusals for a
    minute. With ``segments_max`` 0 no record has a segment."""

    def __init__(self, store: WindowStore, segments_max: int) -> None:
        self.store = store
        self.enabled = segments_max > 0
        self.limit = tracked_limit(segments_max)
        self._segments: dict[str, str | None] = {}  # source → its admitted segment
        self._refused: dict[str, float] = {}

    def segment_of(self, source: str | None) -> str | None:
        """The record's segment: a dict lookup once its source was admitted."""
        if not self.enabled or source is None:
            return None
        found = self._segments.get(source)
        if found is not None:
            return found
        segment = segment_of(source, self.known)
        if segment != OTHER:  # admitted (or no name): final; a refusal is asked again later
            self._segments[source] = segment
        return segment

    def known(self, name: str) -> bool:
        refused_at = self._refused.get(name)
        if refused_at is not None and time.monotonic() - refused_at < 60:
            return False
        if self.store.admit_segment(name, self.limit):
            self._refused.pop(name, None)
            return True
        self._refused[name] = time.monotonic()
        return False
