"""The event-time watermark over a worker's assigned partitions."""

from __future__ import annotations

from riskstream.kafka.watermark import EventTimeWatermark

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


def test_an_unobserved_caught_up_partition_does_not_hold_it_back() -> None:
    w = EventTimeWatermark()
    w.observe(T, 0, 5_000)
    assert w.of(ASSIGNED, T, _nothing_unread) == 5_000


def test_partitions_not_assigned_or_of_other_topics_are_ignored() -> None:
    w = EventTimeWatermark()
    w.observe(T, 0, 5_000)
    w.observe(T, 3, 1_000)  # no longer assigned
    w.observe("other", 0, 100)
    assert w.of(ASSIGNED, T, _nothing_unread) == 5_000


def test_nothing_observed_and_nothing_unread_gives_no_watermark() -> None:
    assert EventTimeWatermark().of(ASSIGNED, T, _nothing_unread) is None
