import pytest
from scipy.stats import binom

from riskstream.models.monitoring.quality_stats import (
    QualityThresholds,
    missing_excess,
    quality_conditions,
    reason_family,
    volume_condition,
)

T = QualityThresholds(missing_rate=0.10)  # a margin of 10 points over the reference


def by_name(conditions):
    return {c.name: c for c in conditions}


def test_reason_family() -> None:
    assert reason_family("out_of_range:glucose") == "out_of_range"
    assert reason_family("truncated") == "truncated"


def test_rates_are_hand_computed() -> None:
    found = by_name(
        quality_conditions(90, {"insulin": 18, "bmi": 0}, {"out_of_range": 4, "decode": 6}, T)
    )
    assert found["quality:dead_letter"].value == pytest.approx(10 / 100)
    assert found["quality:out_of_range"].value == pytest.approx(4 / 100)
    assert found["quality:missing:insulin"].value == pytest.approx(18 / 90)
    assert found["quality:missing:bmi"].value == 0
    assert found["quality:dead_letter"].breached and found["quality:dead_letter"].severity == "HIGH"
    assert not found["quality:out_of_range"].breached
    assert found["quality:missing:insulin"].severity == "HIGH"
    assert not found["quality:missing:bmi"].breached
    assert {c.kind for c in found.values()} == {"DATA_QUALITY"}


def test_no_verdict_below_min_sample() -> None:
    assert quality_conditions(30, {"insulin": 30}, {"decode": 10}, T) == []


def test_severity_grows_with_the_rate() -> None:
    assert by_name(quality_conditions(100, {"bmi": 12}, {}, T))["quality:missing:bmi"].severity == (
        "MEDIUM"
    )
    assert by_name(quality_conditions(100, {"bmi": 45}, {}, T))["quality:missing:bmi"].severity == (
        "CRITICAL"
    )


def test_rate_hysteresis() -> None:
    was = frozenset({"quality:missing:bmi"})
    # 8% is below the 10% entry threshold but above 0.6 x 10%: still breached once in breach
    assert not by_name(quality_conditions(100, {"bmi": 8}, {}, T))["quality:missing:bmi"].breached
    assert by_name(quality_conditions(100, {"bmi": 8}, {}, T, was))["quality:missing:bmi"].breached
    assert not by_name(quality_conditions(100, {"bmi": 5}, {}, T, was))[
        "quality:missing:bmi"
    ].breached


def test_missing_is_judged_against_the_reference_share() -> None:
    """A third of Pima's skin thickness is missing: a window with as many gaps is normal, a
    window with 40% is not (5 sd above the share at 1,000 records)."""
    d = QualityThresholds()
    share = {"skin_thickness": 0.327}
    same = by_name(quality_conditions(1000, {"skin_thickness": 330}, {}, d, expected_missing=share))
    assert not same["quality:missing:skin_thickness"].breached
    more = by_name(quality_conditions(1000, {"skin_thickness": 400}, {}, d, expected_missing=share))
    found = more["quality:missing:skin_thickness"]
    assert found.breached and found.severity == "MEDIUM"
    assert found.value == pytest.approx(0.4) and found.threshold == pytest.approx(0.377)
    # The same 40% against a reference with no gaps at all is a critical loss.
    none = by_name(quality_conditions(1000, {"skin_thickness": 400}, {}, d))
    assert none["quality:missing:skin_thickness"].severity == "CRITICAL"


def test_a_missing_excess_must_beyond_chance_in_a_small_window() -> None:
    """8 of 50 (16%) against a 10% share is a 6-point excess, but p = 0.12: no alert."""
    d = QualityThresholds()
    found = by_name(quality_conditions(50, {"bmi": 8}, {}, d, expected_missing={"bmi": 0.10}))
    assert not found["quality:missing:bmi"].breached
    excess, p = missing_excess(8, 50, 0.10)
    assert excess == pytest.approx(0.06)
    assert p == pytest.approx(binom.sf(7, 50, 0.10))
    assert 0.05 < p < 0.2


def test_fewer_gaps_than_the_reference_is_never_a_problem() -> None:
    d = QualityThresholds()
    found = by_name(
        quality_conditions(1000, {"glucose": 0}, {}, d, expected_missing={"glucose": 0.3})
    )
    assert not found["quality:missing:glucose"].breached


def test_volume_needs_history() -> None:
    assert volume_condition([1000, 1000], 10, T) is None
    assert volume_condition([0, 0, 0], 10, T) is None


def test_volume_jitter_is_quiet_and_a_halving_breaches() -> None:
    history = [1000, 990, 1010, 1005, 995, 1000]
    quiet = volume_condition(history, 970, T)
    assert quiet is not None and not quiet.breached
    drop = volume_condition(history, 400, T)
    assert drop is not None and drop.breached and drop.severity == "HIGH"
    assert drop.value == pytest.approx(0.4) and drop.threshold == 0.5
    outage = volume_condition(history, 20, T)
    assert outage is not None and outage.severity == "CRITICAL"
    spike = volume_condition(history, 2500, T)
    assert spike is not None and spike.breached and spike.threshold == 2.0


def test_volume_uses_recent_windows_and_hysteresis() -> None:
    history = [10] * 10 + [1000] * 6  # only the last `volume_history` windows count
    condition = volume_condition(history, 1000, T)
    assert condition is not None and condition.value == pytest.approx(1.0)
    # 0.6 is back above 0.5 but not above 1 - 0.6 x 0.5 = 0.7: still breached
    assert volume_condition([1000] * 6, 600, T, frozenset({"volume"})).breached  # type: ignore[union-attr]
    assert not volume_condition([1000] * 6, 750, T, frozenset({"volume"})).breached  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("missing", "n", "expected"), [(0, 50, 0.1), (3, 50, 0.1), (20, 50, 0.1), (1, 1, 0.5)]
)
def test_the_missing_p_value_is_the_binomial_tail(missing: int, n: int, expected: float) -> None:
    """scipy.special's bdtrc, checked against scipy.stats' binom.sf (which workers no longer
    import: 46 MiB)."""
    from scipy.stats import binom

    _, p_value = missing_excess(missing, n, expected)
    assert p_value == pytest.approx(binom.sf(missing - 1, n, expected), rel=1e-9)
