from collections import Counter

from stream_processors.windows import (
    Observation,
    count_fields,
    dead_letter_fields,
    group_by_window,
    histograms,
    window_start,
)

REFERENCE = {
    "features": {"glucose": {"edges": [100.0, 140.0]}, "bmi": {"edges": [30.0]}},
    "score": {"edges": [0.5]},
}


def obs(offset: int, event_ms: int, glucose: float, risk: float, missing=()) -> Observation:
    return Observation(0, offset, event_ms, {"glucose": glucose, "bmi": 25.0}, risk, missing)


def test_window_start_is_aligned() -> None:
    assert window_start(61_500, 60_000) == 60_000
    assert window_start(60_000, 60_000) == 60_000


def test_group_by_window_and_partition_sorts_offsets() -> None:
    groups = group_by_window(
        [obs(5, 61_000, 1, 0), obs(3, 62_000, 1, 0), obs(4, 1_000, 1, 0)], 60_000
    )
    assert [o.offset for o in groups[(60_000, 0)]] == [3, 5]
    assert [o.offset for o in groups[(0, 0)]] == [4]


def test_counts_round_trip_through_a_redis_hash() -> None:
    fields = count_fields(
        [obs(0, 0, 90, 0.2), obs(1, 0, 120, 0.7, ("bmi",)), obs(2, 0, 140, 0.9, ("bmi",))],
        REFERENCE,
    )
    assert fields["n"] == 3 and fields["m:bmi"] == 2
    fields += dead_letter_fields(["out_of_range:glucose", "out_of_range:age", "truncated"])
    raw = {k.encode(): str(v).encode() for k, v in fields.items()}  # as HGETALL returns it
    window = histograms(raw, REFERENCE)
    assert window.n == 3
    assert window.features == {"glucose": [1, 1, 1], "bmi": [3, 0]}  # 140 is an edge: goes right
    assert window.score == [1, 2]
    assert window.missing["bmi"] == 2 and window.missing["glucose"] == 0
    assert window.dead_letters == {"out_of_range": 2, "truncated": 1}
    assert not window.incomplete
    assert histograms({b"incomplete": b"1"}, REFERENCE).incomplete


def test_no_observations_no_fields() -> None:
    assert count_fields([], REFERENCE) == Counter()
