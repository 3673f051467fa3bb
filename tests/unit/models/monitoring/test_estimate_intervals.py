import math

import numpy as np
import pytest

from riskstream.models.monitoring.estimate_intervals import estimate_intervals, reference_spread
from riskstream.models.monitoring.estimation import (
    ESTIMATE_BINS,
    estimate_fields,
    estimated_metrics,
    reference_fields,
    reference_probability,
    window_record,
)
from riskstream.models.monitoring.performance_stats import (
    Outcome,
    PerformanceThresholds,
    performance_conditions,
    performance_fields,
    window_metrics,
)
from tests.unit.models.monitoring.test_estimation import calibrated_window


def test_on_calibrated_scores_each_interval_covers_the_realized_metric_95_times_in_100() -> None:
    """Labels drawn with P(y=1) = score: the realized metric (as the performance monitor
    computes it) falls inside the interval in about 95% of windows; not 100% (too wide) and
    not below 90% (too narrow)."""
    covered: dict[str, list[bool]] = {}
    for seed in range(200):
        risk, y, decided = calibrated_window(1_000, seed=seed)
        intervals = estimate_intervals(estimate_fields(zip(risk, decided, strict=True)))
        outcomes = (Outcome(int(t), r, int(d)) for t, r, d in zip(y, risk, decided, strict=True))
        realized = window_metrics(performance_fields(outcomes))
        for name, (low, high) in intervals.items():
            covered.setdefault(name, []).append(low <= realized[name] <= high)
    assert set(covered) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    for name, hits in covered.items():
        assert 0.90 <= np.mean(hits) <= 0.99, (name, np.mean(hits))


def test_the_accuracy_interval_is_the_poisson_binomial_one() -> None:
    """Accuracy's realized count of correct decisions is a sum of independent coin flips, one
    per record, each right with p (decided positive) or 1 - p (decided negative): its 95%
    half-width is 1.96 sqrt(sum p (1 - p)) / n."""
    risk, _, decided = calibrated_window(4_000, seed=5)
    fields = estimate_fields(zip(risk, decided, strict=True))
    low, high = estimate_intervals(fields, draws=4_000)["accuracy"]
    p = (np.minimum((risk * ESTIMATE_BINS).astype(int), ESTIMATE_BINS - 1) + 0.5) / ESTIMATE_BINS
    half = 1.96 * math.sqrt(float(np.sum(p * (1 - p)))) / len(p)
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert low < estimated_metrics(fields)["accuracy"] < high


def test_four_times_the_records_halve_the_interval_and_same_counts_give_it_again() -> None:
    risk, _, decided = calibrated_window(16_000, seed=2)
    small = estimate_fields(zip(risk[:4_000], decided[:4_000], strict=True))
    large = estimate_fields(zip(risk, decided, strict=True))
    width = {
        k: {m: hi - lo for m, (lo, hi) in estimate_intervals(f).items()}
        for k, f in (("small", small), ("large", large))
    }
    for name in ("accuracy", "f1", "roc_auc"):
        assert width["large"][name] == pytest.approx(width["small"][name] / 2, rel=0.25), name
    assert estimate_intervals(small) == estimate_intervals(small)


def test_a_calibration_moves_the_interval_with_the_estimate() -> None:
    """The interval is drawn from the probabilities the estimate uses: with scores a
    reference says are half as likely positive, it moves and still holds the estimate."""
    risk, _, decided = calibrated_window(2_000, seed=4)
    fields = estimate_fields(zip(risk, decided, strict=True))
    centres = (np.arange(ESTIMATE_BINS) + 0.5) / ESTIMATE_BINS
    served = estimate_intervals(fields)["accuracy"]
    halved = estimate_intervals(fields, centres / 2)["accuracy"]
    estimate = estimated_metrics(fields, centres / 2)["accuracy"]
    assert halved != served and halved[0] < estimate < halved[1]


def test_an_empty_or_one_class_window_has_no_interval_where_the_metric_is_undefined() -> None:
    assert estimate_intervals({}) == {}
    never_positive = np.zeros(ESTIMATE_BINS)
    fields = estimate_fields((0.3, 0) for _ in range(500))
    intervals = estimate_intervals(fields, never_positive)
    assert intervals == {"accuracy": (1.0, 1.0)}  # every draw all negatives, all decided so


def test_window_record_publishes_the_interval_of_each_defined_estimate() -> None:
    estimated = {"n": 200.0, "accuracy": 0.8, "roc_auc": float("nan"), "f1": 0.6}
    intervals = {"accuracy": (0.74, 0.85), "roc_auc": (0.4, 0.6), "f1": (0.5, 0.7)}
    record = window_record("m", "3", "ESTIMATED", (0, 300_000), estimated, intervals=intervals)
    assert record.estimated_low == {"accuracy": 0.74, "f1": 0.5}
    assert record.estimated_high == {"accuracy": 0.85, "f1": 0.7}
    plain = window_record("m", "3", "ESTIMATED", (0, 300_000), estimated)
    assert plain.estimated_low == plain.estimated_high == {}


def test_an_estimate_alert_needs_its_interval_wholly_below_the_floor() -> None:
    """0.55 expected accuracy against a 0.72 floor breaches on its own; an interval reaching
    the floor holds the alert back, one below it lets it through."""
    thresholds = PerformanceThresholds(gates={"accuracy": 0.7}, min_sample=100)
    estimated = estimated_metrics(estimate_fields((0.45, 0) for _ in range(2_000)))
    validation = {"test_accuracy": 0.8, "test_roc_auc": 0.85, "test_f1": 0.7}

    def accuracy_breached(interval: tuple[float, float] | None) -> bool:
        conditions = performance_conditions(
            estimated,
            validation,
            thresholds,
            kind="PERFORMANCE_ESTIMATE",
            intervals=None if interval is None else {"accuracy": interval},
        )
        return next(c for c in conditions if c.name == "estimate:accuracy").breached

    assert accuracy_breached(None)
    assert accuracy_breached((0.52, 0.58))
    assert not accuracy_breached((0.52, 0.73))  # the floor is max(0.7, 0.9 * 0.8) = 0.72
    computed = estimate_intervals(estimate_fields((0.45, 0) for _ in range(2_000)))
    assert accuracy_breached(computed["accuracy"])


def _overconfident(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scores that overstate risk: the true probability is 0.7 times the score."""
    risk = rng.beta(1.2, 2.2, n)
    return risk, (rng.uniform(size=n) < 0.7 * risk).astype(int)


def test_the_reference_spread_is_fitted_resamples_of_the_reference() -> None:
    risk, y = _overconfident(2_000, np.random.default_rng(1))
    reference = reference_fields(zip(risk, y, strict=True))
    fitted = reference_probability(reference, 2_000)
    spread = reference_spread(reference, 2_000, draws=30)
    assert fitted is not None and spread is not None and spread.shape == (30, ESTIMATE_BINS)
    assert np.all(np.diff(spread, axis=1) >= -1e-12)  # each row isotonic, as the fit is
    assert len({row.tobytes() for row in spread}) == 30  # each its own resample
    assert np.abs(spread.mean(axis=0) - fitted).mean() < 0.02
    assert reference_spread(reference, 2_001) is None  # not complete: no probability either


def test_with_the_reference_spread_the_interval_covers_a_recalibrated_estimate() -> None:
    """Overconfident scores, recalibrated on a 2,000-example reference: drawing p from the
    reference's resamples, the interval holds the realized ROC-AUC and accuracy in at least
    90% of windows; the labels' chance alone (one fitted p) gives a narrower interval."""
    rng = np.random.default_rng(7)
    risk, y = _overconfident(2_000, rng)
    reference = reference_fields(zip(risk, y, strict=True))
    probability = reference_probability(reference, 2_000)
    spread = reference_spread(reference, 2_000)
    covered: dict[str, list[bool]] = {"accuracy": [], "roc_auc": []}
    narrower = []
    for _ in range(120):
        risk, y = _overconfident(1_000, rng)
        decided = (risk >= 0.5).astype(int)
        fields = estimate_fields(zip(risk, decided, strict=True))
        intervals = estimate_intervals(fields, probability, spread=spread)
        alone = estimate_intervals(fields, probability)
        outcomes = (Outcome(int(t), r, int(d)) for t, r, d in zip(y, risk, decided, strict=True))
        realized = window_metrics(performance_fields(outcomes))
        for name, hits in covered.items():
            low, high = intervals[name]
            hits.append(low <= realized[name] <= high)
        narrower.append(np.diff(alone["roc_auc"])[0] < np.diff(intervals["roc_auc"])[0])
    for name, hits in covered.items():
        assert np.mean(hits) >= 0.9, (name, np.mean(hits))
    assert np.mean(narrower) > 0.8
