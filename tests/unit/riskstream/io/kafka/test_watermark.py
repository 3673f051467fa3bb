"""The event-time watermark over a worker's assigned partitions."""

from __future__ import annotations

from riskstream.io.kafka.watermark import EventTimeWatermark

T = "p"
ASSIGNED = [(T, 0), (T, 1), ("other", 0)]


def _nothing_unread(topic: str, partition: int) -> bool:
    return False


def test_the_slowest_observed_partition_sets_the_watermark() -> None:
    w = EventTimeWatermark()
    for partition, ms in [(0, 5_000), (0, 9_000), (1, 7_000), (0, 8_000)]:
        w.observe(T, partition, ms)
    assert w.of(ASSIGNED, T, _nothing_unread) == 7_000
    assert w.max_seen == 9_000


def test_an_unobserved_partition_with_unread_records_holds_it_back() -> None:
    w = EventTimeWatermark()
    w.observe(T, 0, 5_000)
    assert w.of(ASSIGNED, T, lambda topic, partition: partition == 1) is None


def test_an_unobserved_caught_up_partition_holds_it_back_until_idle() -> None:
    """A scorer working through a backlog fills one prediction partition before the next:
    the empty one must not let the first run ahead (the others' records would all be
    late), but it must not hold the watermark for ever either."""
    clock = Clock(1_000.0)
    w = EventTimeWatermark(idle_ms=3_000, clock=clock)
    w.observe(T, 0, 5_000)
    clock.now_s += 1
    w.observe(T, 0, 90_000)  # partition 0's backlog races ahead
    assert w.of(ASSIGNED, T, _nothing_unread) is None
    clock.now_s += 3  # 4 s since the first record: partition 1 is idle from there
    assert w.of(ASSIGNED, T, _nothing_unread) == 9_000
    assert EventTimeWatermark(clock=clock).of(ASSIGNED, T, _nothing_unread) is None


def test_partitions_not_assigned_or_of_other_topics_are_ignored() -> None:
    w = EventTimeWatermark()
    w.observe(T, 0, 5_000)
    w.observe(T, 1, 6_000)
    w.observe(T, 3, 1_000)  # no longer assigned
    w.observe("other", 0, 100)
    assert w.of(ASSIGNED, T, _nothing_unread) == 5_000


def test_nothing_observed_and_nothing_unread_gives_no_watermark() -> None:
    assert EventTimeWatermark().of(ASSIGNED, T, _nothing_unread) is None


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def test_an_idle_partition_moves_on_by_its_pause_not_to_the_busiest_partition() -> None:
    clock = Clock(1_000.0)
    w = EventTimeWatermark(idle_ms=5_000, clock=clock)
    w.observe(T, 1, 2_000)  # partition 1 went quiet at event time 2 s
    clock.now_s += 4.0
    w.observe(T, 0, 9_000)
    assert w.of(ASSIGNED, T, _nothing_unread) == 2_000  # 4 s quiet: not idle yet
    clock.now_s += 1.5
    w.observe(T, 0, 10_000)
    # 5.5 s quiet: idle, so it holds the watermark 5.5 s past where it went quiet, no more
    assert w.of(ASSIGNED, T, _nothing_unread) == 7_500
    clock.now_s += 60
    w.observe(T, 0, 11_000)
    assert w.of(ASSIGNED, T, _nothing_unread) == 11_000  # long quiet: the live one leads


def test_a_quiet_partition_with_records_waiting_is_slow_not_idle() -> None:
    clock = Clock(1_000.0)
    w = EventTimeWatermark(idle_ms=5_000, clock=clock)
    w.observe(T, 0, 9_000)
    w.observe(T, 1, 2_000)
    clock.now_s += 60
    w.observe(T, 0, 10_000)
    assert w.of(ASSIGNED, T, lambda topic, partition: partition == 1) == 2_000


def test_when_every_partition_is_idle_the_clock_moves_the_watermark() -> None:
    clock = Clock(1_000.0)  # wall clock 1,000 s
    w = EventTimeWatermark(idle_ms=5_000, clock=clock)
    w.observe(T, 0, 999_000)
    w.observe(T, 1, 999_500)
    assert w.of(ASSIGNED, T, _nothing_unread) == 999_000
    clock.now_s += 3
    assert w.of(ASSIGNED, T, _nothing_unread) == 999_000  # quiet, not idle yet
    clock.now_s += 3
    assert w.of(ASSIGNED, T, _nothing_unread) == 1_005_000  # 6 s on from the slower one
    clock.now_s += 60
    assert w.of(ASSIGNED, T, _nothing_unread) == 1_065_000


def test_a_pause_in_a_replay_of_old_traffic_moves_it_by_the_pause_not_to_today() -> None:
    clock = Clock(2_000_000.0)  # today; the traffic is from long ago
    w = EventTimeWatermark(idle_ms=3_000, clock=clock)
    w.observe(T, 0, 50_000)
    w.observe(T, 1, 48_000)
    clock.now_s += 4
    assert w.of(ASSIGNED, T, _nothing_unread) == 52_000


def test_the_watermark_never_goes_back() -> None:
    clock = Clock(1_000.0)
    w = EventTimeWatermark(idle_ms=5_000, clock=clock)
    w.observe(T, 0, 999_000)
    clock.now_s += 10
    assert w.of(ASSIGNED, T, _nothing_unread) == 1_009_000
    w.observe(T, 0, 1_000_000)  # traffic again, older than the clock had moved it to
    assert w.of(ASSIGNED, T, _nothing_unread) == 1_009_000
    assert w.of(ASSIGNED, T, lambda topic, partition: True) == 1_009_000


def test_without_an_idle_timeout_a_quiet_partition_holds_it_back_for_ever() -> None:
    clock = Clock(1_000.0)
    w = EventTimeWatermark(clock=clock)
    w.observe(T, 0, 9_000)
    w.observe(T, 1, 2_000)
    clock.now_s += 3_600
    assert w.of(ASSIGNED, T, _nothing_unread) == 2_000


def test_silence_while_the_broker_is_away_is_not_idleness() -> None:
    """A broker restart silences every partition; the records behind it are not late."""
    clock = Clock(1_000.0)
    w = EventTimeWatermark(idle_ms=3_000, clock=clock)
    w.observe(T, 0, 50_000)
    w.observe(T, 1, 50_000)
    clock.now_s += 10  # the broker has been down for 10 s
    assert w.of(ASSIGNED, T, _nothing_unread) == 60_000  # unconfirmed: the clock moves it
    w2 = EventTimeWatermark(idle_ms=3_000, clock=clock)
    w2.observe(T, 0, 50_000)
    w2.observe(T, 1, 50_000)
    clock.now_s += 10
    assert w2.positions(ASSIGNED, T, _nothing_unread, reachable=lambda: False) == {
        0: 50_000,
        1: 50_000,
    }
    clock.now_s += 2  # back, but quiet for only 2 s since the outage: not idle yet
    assert w2.positions(ASSIGNED, T, _nothing_unread, reachable=lambda: True) == {
        0: 50_000,
        1: 50_000,
    }
    clock.now_s += 2
    assert w2.positions(ASSIGNED, T, _nothing_unread) == {0: 54_000, 1: 54_000}
