"""The console's swap watch: the last partition of the predictions to carry a promoted
version dates the last scorer's switch."""

from __future__ import annotations

from riskstream.app.console.swaps import WATCH_MS, SwapWatch


def test_the_last_partition_to_carry_the_version_dates_the_switch() -> None:
    watch = SwapWatch(partitions=3)
    watch.promoted("2", 1_000)
    assert watch.watching == "2"
    watch.seen(0, "2", 1_100)
    watch.seen(1, "1", 1_150)  # still the old version there
    watch.seen(1, "2", 1_400)
    watch.seen(0, "2", 1_500)  # a later one of a partition already counted
    assert watch.watching == "2" and watch.switched == {}
    watch.seen(2, "2", 1_300)
    assert watch.switched == {"2": 1_400} and watch.watching is None
    watch.seen(2, "2", 9_000)  # no longer watched
    assert watch.switched == {"2": 1_400}
    watch.promoted("2", 2_000)  # already dated: not watched again
    assert watch.watching is None


def test_a_partition_that_never_switches_ends_the_watch_undated() -> None:
    watch = SwapWatch(partitions=2)
    watch.promoted("3", 0)
    watch.seen(0, "3", 10)
    watch.seen(0, "3", WATCH_MS + 1)
    assert watch.watching is None and watch.switched == {}
