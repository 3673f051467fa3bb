from __future__ import annotations

import pytest

from riskstream.models.monitoring.variants import (
    CHALLENGER_VARIANT,
    CHAMPION_VARIANT,
    serving_variant,
    split_point,
)

PATIENTS = [f"p-{i}" for i in range(20_000)]


def test_a_patients_place_is_stable_and_in_the_unit_interval() -> None:
    points = [split_point(p) for p in PATIENTS[:500]]
    assert points == [split_point(p) for p in PATIENTS[:500]]
    assert all(0 <= x < 1 for x in points)
    # pinned: a change of hash would move patients between variants across an upgrade
    assert split_point("p-1") == pytest.approx(0.4935061670079479, abs=1e-15)
    assert len(set(points)) == len(points)


@pytest.mark.parametrize("split", [0.1, 0.25, 0.5, 0.9])
def test_the_challengers_share_of_patients_is_the_split(split: float) -> None:
    share = sum(serving_variant(p, split) == CHALLENGER_VARIANT for p in PATIENTS) / len(PATIENTS)
    # binomial sd at n=20,000 is at most 0.0035: four of them
    assert share == pytest.approx(split, abs=0.014)


def test_no_split_serves_everyone_by_the_champion_and_a_full_split_by_the_challenger() -> None:
    assert {serving_variant(p, 0.0) for p in PATIENTS} == {CHAMPION_VARIANT}
    assert {serving_variant(p, 1.0) for p in PATIENTS} == {CHALLENGER_VARIANT}


def test_widening_the_split_keeps_every_patient_already_on_the_challenger() -> None:
    narrow = {p for p in PATIENTS if serving_variant(p, 0.2) == CHALLENGER_VARIANT}
    wide = {p for p in PATIENTS if serving_variant(p, 0.5) == CHALLENGER_VARIANT}
    assert narrow and narrow < wide
