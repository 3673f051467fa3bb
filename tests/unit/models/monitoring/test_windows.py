import dataclasses
from collections import Counter

import pytest

from riskstream.models.monitoring.windows import (
    Observation,
    Tracked,
    binning_version,
    by_window,
    challenger_served_fields,
    count_fields,
    dead_letter_fields,
    group_by_window,
    histograms,
    takeover_boundary,
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
    on_two = dataclasses.replace(obs(2, 61_500, 1, 0), partition=2)
    groups = group_by_window(
        [obs(5, 61_000, 1, 0), on_two, obs(3, 62_000, 1, 0), obs(4, 1_000, 1, 0)], 60_000
    )
    assert sorted(groups) == [0, 60_000]
    assert [o.offset for o in groups[60_000][0]] == [3, 5]
    assert [o.offset for o in groups[60_000][2]] == [2]
    assert list(groups[0]) == [0] and [o.offset for o in groups[0][0]] == [4]


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
    # 140 is an edge: goes right. The two records that did not carry bmi hold the imputed
    # median in ``features``; only the one measured bmi is binned.
    assert window.features == {"glucose": [1, 1, 1], "bmi": [1, 0]}
    assert window.score == [1, 2]
    assert window.missing["bmi"] == 2 and window.missing["glucose"] == 0
    assert window.dead_letters == {"out_of_range": 2, "truncated": 1}
    assert window.challenger_served == 0
    assert not window.incomplete
    assert histograms({b"incomplete": b"1"}, REFERENCE).incomplete


def test_a_derived_feature_counts_only_where_its_inputs_were_measured() -> None:
    reference = {
        "features": {"glucose_x_bmi": {"edges": [4.0]}, "glucose": {"edges": [100.0]}},
        "score": {"edges": [0.5]},
    }
    group = [
        Observation(0, 0, 0, {"glucose_x_bmi": 3.0, "glucose": 90.0}, 0.1),
        Observation(0, 1, 0, {"glucose_x_bmi": 5.0, "glucose": 150.0}, 0.1, ("bmi",)),
        Observation(0, 2, 0, {"glucose_x_bmi": 5.0, "glucose": 120.0}, 0.1, ("glucose",)),
    ]
    fields = count_fields(group, reference)
    assert fields["f:glucose_x_bmi:0"] == 1 and fields["f:glucose_x_bmi:1"] == 0
    assert fields["f:glucose:0"] == 1 and fields["f:glucose:1"] == 1
    assert fields["n"] == 3 and fields["m:bmi"] == 1 and fields["m:glucose"] == 1


def test_no_observations_no_fields() -> None:
    assert count_fields([], REFERENCE) == Counter()


def test_each_window_is_binned_over_the_champion_that_took_it_over() -> None:
    takeovers = [(0, "1"), (20_000, "2"), (50_000, "1")]  # 2 promoted, then rolled back
    assert [binning_version(takeovers, s) for s in (0, 10_000, 20_000, 40_000)] == [
        "1",
        "1",
        "2",
        "2",
    ]
    assert binning_version(takeovers, 50_000) == "1"
    assert binning_version(takeovers, 90_000) == "1"
    assert binning_version([(30_000, "3")], 0) == "3"  # before the first: the first version
    with pytest.raises(ValueError):
        binning_version([], 0)


def test_a_takeover_starts_at_the_window_after_the_latest_event_counted() -> None:
    assert takeover_boundary([12_000], 10_000) == 20_000
    assert takeover_boundary([19_999, 12_000, 5], 10_000) == 20_000
    assert takeover_boundary([20_000], 10_000) == 30_000  # 20 000 opened a window: the next


def test_the_splits_challenger_share_is_its_own_count_by_window_and_partition() -> None:
    items = [
        Tracked(0, 7, 61_000, "", "c1"),
        Tracked(1, 3, 62_000, "", None),
        Tracked(0, 5, 1_000, "", "c2"),
    ]
    assert by_window(items, 60_000) == {
        (60_000, 0): [(7, "", "c1")],
        (60_000, 1): [(3, "", None)],
        (0, 0): [(5, "", "c2")],
    }
    fields = challenger_served_fields(["", ""]) + count_fields([obs(0, 0, 90, 0.2)], REFERENCE)
    window = histograms({k.encode(): str(v).encode() for k, v in fields.items()}, REFERENCE)
    assert (window.n, window.challenger_served) == (1, 2)


def test_joint_errors_are_binned_for_records_with_every_joint_input_measured() -> None:
    """``j:`` counts each complete record's reconstruction error over the reference's edges;
    a record lacking a joint input (its value an imputed median) is left out."""
    model = {
        "features": ["glucose", "bmi"],
        "mean": [120.0, 30.0],
        "scale": [30.0, 6.0],
        "components": [[2**-0.5, 2**-0.5]],  # glucose and bmi rise together
    }
    reference = {**REFERENCE, "joint": {"edges": [0.5], "counts": [8, 2], "model": model}}
    follows = Observation(0, 0, 0, {"glucose": 150.0, "bmi": 36.0}, 0.5)  # +1 sd, +1 sd: 0
    breaks = Observation(0, 1, 0, {"glucose": 150.0, "bmi": 24.0}, 0.5)  # +1, -1: sqrt(2)
    lacking = Observation(0, 2, 0, {"glucose": 150.0, "bmi": 24.0}, 0.5, ("bmi",))
    fields = count_fields([follows, breaks, lacking], reference)
    assert fields["j:0"] == 1 and fields["j:1"] == 1
    window = histograms({k: str(v) for k, v in fields.items()}, reference)
    assert window.joint == [1, 1]
    assert histograms({k: str(v) for k, v in fields.items()}, REFERENCE).joint == []


def test_each_subwindow_counts_its_measured_values_and_their_pit_sum() -> None:
    """Sub-windows of 100 ms from 0: the sequential test's ``q<k>:`` fields. glucose's
    reference has three equal bins (PIT scores 1/6, 1/2, 5/6); the score's two (1/4, 3/4)."""
    from riskstream.models.monitoring.pit import PIT_SCALE
    from riskstream.models.monitoring.windows import SubWindows, pit_counts

    reference = {
        "features": {"glucose": {"edges": [100.0, 140.0], "counts": [10, 10, 10]}},
        "score": {"edges": [0.5], "counts": [5, 5]},
    }
    group = [
        Observation(0, 0, 10, {"glucose": 90.0}, 0.2),  # sub-window 0, bins 0 and 0
        Observation(0, 1, 50, {"glucose": 150.0}, 0.7),  # sub-window 0, bins 2 and 1
        Observation(0, 2, 120, {"glucose": 120.0}, 0.9, ("glucose",)),  # 1: glucose imputed
    ]
    fields = count_fields(group, reference, SubWindows(0, 100))
    glucose = round(PIT_SCALE / 6) + round(5 * PIT_SCALE / 6)
    assert pit_counts(fields["q0:glucose"]) == (2, glucose) and "q1:glucose" not in fields
    assert pit_counts(fields["q0:__score__"])[0] == 2
    assert pit_counts(fields["q1:__score__"]) == (1, round(3 * PIT_SCALE / 4))
    assert not any(k.startswith("q") for k in count_fields(group, reference))
    # packed counts add up as their parts do (Redis adds them), far past a real sub-window's
    many = fields["q0:glucose"] * 100_000
    assert pit_counts(many) == (200_000, 100_000 * glucose)
