"""The window store's Redis scripts against the real redis-server, without workers: the
shared watermark and late records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from riskstream.core.settings import Settings
from riskstream.models.monitoring.statistics import DriftThresholds
from riskstream.stream_processors.sequential_watch import SequentialWatch
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import fresh_prefix

pytestmark = pytest.mark.integration


@pytest.fixture
def store(stack: Settings) -> WindowStore:
    return WindowStore(stack.model_copy(update={"topic_prefix": fresh_prefix("ws")}))


def test_the_watermark_waits_for_every_partition_whoever_owns_it(store: WindowStore) -> None:
    assert store.shared_watermark({0: 50_000, 1: 40_000}, partitions=3) is None
    # another worker owns partition 2 and has read only up to 20 s
    assert store.shared_watermark({2: 20_000}, partitions=3) == 20_000
    assert store.shared_watermark({0: 90_000, 1: None}, partitions=3) == 20_000
    # positions only rise: a new owner starting lower does not move it back
    assert store.shared_watermark({2: 10_000}, partitions=3) == 20_000
    assert store.shared_watermark({2: 60_000}, partitions=3) == 40_000


def test_records_for_a_closed_window_are_counted_late_once(store: WindowStore) -> None:
    late: list[int] = []
    items = [(offset, 1) for offset in range(10)]

    def add(chunk: list[tuple[int, int]]) -> int:
        return store.add_new(
            "1",
            0,
            0,
            chunk,
            lambda item: item[0],
            lambda fresh: Counter({"n": len(fresh)}),
            lambda: None,
            late.append,
        )

    assert add(items[:6]) == 6
    assert store.claim_close("1", 0)
    assert add(items) == 0  # 4 new ones, after the close
    assert add(items) == 0  # a replay: not counted again
    counts = store.counts("1", 0)
    assert counts[b"n"] == b"6" and counts[b"late"] == b"4"
    assert late == [4]
    assert store.closable("1", 10**12) == []  # a late record does not reopen the window


def test_a_batch_across_partitions_is_counted_in_one_step_and_once(store: WindowStore) -> None:
    def add(by_partition: dict[int, range]) -> int:
        return store.add_across(
            "1",
            0,
            {p: list(offsets) for p, offsets in by_partition.items()},
            lambda offset: offset,
            lambda fresh: Counter({"n": len(fresh)}),
            lambda: None,
        )

    def counted() -> int:
        return int(store.counts("1", 0)[b"n"])

    assert add({0: range(5), 1: range(3)}) == 8
    assert add({0: range(7), 1: range(3)}) == 2  # a replay: only partition 0's 5 and 6 are new
    assert counted() == 10
    # another worker (the partition's new owner) counts partition 1's offsets 3-5
    assert store.apply("1", 0, [(1, 2, 5)], Counter({"n": 3}), 3) == 1
    assert add({0: range(8), 1: range(6)}) == 1  # only partition 0's offset 7
    # an update whose guard on one partition is stale applies nothing, on any partition
    assert store.apply("1", 0, [(0, 7, 9), (1, 2, 9)], Counter({"n": 100}), 4) == 0
    assert counted() == 14
    assert store.last_applied("1", 0, [0, 1, 2]) == {0: 7, 1: 5, 2: -1}


def _restart_redis(store: WindowStore) -> None:
    """What a restart does to this store: every key gone (only its own keys, by their hash
    tag, so tests beside it keep theirs)."""
    keys = list(store.redis.scan_iter(match=f"*{{{store.settings.topic_prefix}{store.kind}}}*"))
    assert keys
    store.redis.delete(*keys)


def _counter(store: WindowStore, restarts: list[None]) -> Callable[[int, range], int]:
    """Counts offsets into window ``start`` of version 1 on partition 0; restarts noticed
    are appended to ``restarts``."""

    def count(start: int, offsets: range) -> int:
        return store.add_new(
            "1",
            start,
            0,
            list(offsets),
            lambda offset: offset,
            lambda fresh: Counter({"n": len(fresh)}),
            lambda: restarts.append(None),
        )

    return count


def test_a_window_whose_counts_a_restart_took_is_closed_as_incomplete_not_lost(
    store: WindowStore,
) -> None:
    """Windows 0 and 10,000 are counted whole before Redis restarts; window 0 was already
    closed, window 10,000 was not. No record of it comes again, yet it is closed as
    incomplete, and window 20,000, counted after the restart, is closed as it is."""
    restarts: list[None] = []
    count = _counter(store, restarts)
    closed: list[tuple[str, int]] = []
    evaluate = lambda version, start: closed.append((version, start))  # noqa: E731
    assert count(0, range(0, 5)) == 5
    store.close_due(["1"], 0, evaluate, lambda: restarts.append(None))
    assert closed == [("1", 0)]
    assert count(10_000, range(5, 10)) == 5
    _restart_redis(store)
    assert count(20_000, range(10, 15)) == 5  # the first update after the restart notices it
    assert len(restarts) == 1
    store.close_due(["1"], 20_000, evaluate, lambda: restarts.append(None))
    assert closed == [("1", 0), ("1", 10_000), ("1", 20_000)]
    assert store.counts("1", 10_000) == {b"incomplete": b"1"}
    assert store.counts("1", 20_000) == {b"n": b"5"}
    assert len(restarts) == 1  # noticed once


def test_a_store_nobody_closes_is_not_given_windows_to_close_after_a_restart(
    stack: Settings,
) -> None:
    """The estimate references count into one "window" per version that is never closed: a
    restart empties it and it is gathered again, with no incomplete mark and no index."""
    store = WindowStore(
        stack.model_copy(update={"topic_prefix": fresh_prefix("ws")}),
        kind="reference",
        closes_windows=False,
    )
    restarts: list[None] = []
    count = _counter(store, restarts)
    assert count(0, range(0, 5)) == 5
    _restart_redis(store)
    assert count(0, range(5, 8)) == 3
    assert restarts == [None]
    assert store.counts("1", 0) == {b"n": b"3"}
    assert store.closable("1", 10**12) == [0]  # the one entry the count itself made


def test_an_advance_from_a_state_another_worker_has_moved_on_is_not_written(
    store: WindowStore,
) -> None:
    """Two workers read the sequential state at the same cursor (one outlived its lock):
    the first to write wins, and the other's older advance does not overwrite it."""
    watch = SequentialWatch(store.settings, store, DriftThresholds())
    key = watch._state_key("1")
    assert watch.write_from(
        "1", "", {"cursor": "2000", "glucose:up": "0.5"}, {"1800:glucose": "HIGH"}
    )
    # the slower worker had also read the empty state, and judged less far
    assert not watch.write_from(
        "1", "", {"cursor": "1000", "glucose:up": "0.1"}, {"900:bmi": "LOW"}
    )
    assert store.redis.hget(key, "cursor") == b"2000"
    assert store.redis.hget(key, "glucose:up") == b"0.5"
    assert watch.alarms("1") == {"1800:glucose": "HIGH"}
    # the next advance goes on from the state that was written
    assert watch.write_from("1", "2000", {"cursor": "2200", "glucose:up": "0.0"}, {})
    assert store.redis.hget(key, "cursor") == b"2200"
    assert store.redis.ttl(key) > 0
