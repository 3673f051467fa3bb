"""The joiner's decisions, without a broker or Redis: what becomes of each label."""

import pytest

from riskstream.schemas.events import GroundTruth, Prediction
from riskstream.stream_processors.joiner import (
    example_id,
    label_fate,
    labeled_example,
    measured_features,
)

GRACE = 30_000


@pytest.mark.parametrize(
    ("cached", "seen", "age_ms", "fate"),
    [
        (True, True, 0, "join"),  # the prediction is cached: join, whatever else holds
        (True, False, 10**9, "join"),
        (False, True, 0, "late"),  # seen, since expired: the label came after the TTL
        (False, False, 0, "park"),  # not seen yet, young: wait for the prediction
        (False, False, GRACE - 1, "park"),
        (False, False, GRACE, "unknown"),  # grace over: no prediction will come
    ],
)
def test_each_label_meets_one_fate(cached: bool, seen: bool, age_ms: int, fate: str) -> None:
    assert label_fate(cached, seen, age_ms, GRACE) == fate


def _prediction(missing: list[str]) -> Prediction:
    return Prediction(
        "pid", "req-1", "p-1", 1_000, 1_050, "m", "3", 0.7, 1, 0.5, 50.0,
        {"glucose": 140.0, "bmi": 31.0, "glucose_per_age": 3.5, "age": 40.0},
        missing, [], 2, 17,
    )  # fmt: skip


def test_a_labeled_example_carries_only_measured_features_and_both_locations() -> None:
    truth = GroundTruth("l-1", "req-1", "p-1", 9_000, 1, "clinic-a")
    example = labeled_example(_prediction(["glucose"]), (2, 17), truth, (0, 5))
    # glucose was imputed, and glucose_per_age is derived from it: both left out
    assert example.features == {"bmi": 31.0, "age": 40.0}
    assert example.example_id == example_id("req-1")  # the same label, the same id
    assert (example.prediction_partition, example.prediction_offset) == (2, 17)
    assert (example.truth_partition, example.truth_offset) == (0, 5)
    assert (example.label, example.predicted_label, example.labeled_at) == (1, 1, 9_000)
    assert measured_features(_prediction([])) == _prediction([]).features


def test_a_labeled_example_carries_the_shadow_score_of_its_record_beside_the_served_one() -> None:
    truth = GroundTruth("l-1", "req-1", "p-1", 9_000, 0, "clinic-a")
    served = _prediction([])
    alone = labeled_example(served, (2, 17), truth, (0, 5))
    assert alone.variant == "champion"
    assert (alone.shadow_version, alone.shadow_risk, alone.shadow_label) == (None, None, None)
    paired = labeled_example(served, (2, 17), truth, (0, 5), ("7", 0.12, 0))
    assert (paired.shadow_version, paired.shadow_risk, paired.shadow_label) == ("7", 0.12, 0)
    assert (paired.model_version, paired.risk) == (served.model_version, served.risk)
