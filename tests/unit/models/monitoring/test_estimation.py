import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from riskstream.models.monitoring.estimation import (
    ESTIMATE_BINS,
    estimate_errors,
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


def calibrated_window(n: int, seed: int = 0, threshold: float = 0.5) -> tuple[np.ndarray, ...]:
    """Scores that are calibrated by construction: each label is drawn with P(y=1) = score."""
    rng = np.random.default_rng(seed)
    risk = rng.beta(1.2, 2.2, n)
    y = (rng.uniform(size=n) < risk).astype(int)
    decided = (risk >= threshold).astype(int)
    return risk, y, decided


def test_on_calibrated_scores_the_estimate_matches_the_realized_metrics() -> None:
    risk, y, decided = calibrated_window(40_000)
    estimated = estimated_metrics(estimate_fields(zip(risk, decided, strict=True)))
    assert estimated["n"] == 40_000
    assert estimated["accuracy"] == pytest.approx(accuracy_score(y, decided), abs=0.01)
    assert estimated["f1"] == pytest.approx(f1_score(y, decided), abs=0.015)
    assert estimated["roc_auc"] == pytest.approx(roc_auc_score(y, risk), abs=0.01)


def test_estimated_auc_is_cbpe_with_ties_inside_a_bin_counted_half() -> None:
    """The brute-force CBPE AUC: every ordered pair weighted p_i (1 - p_j), same bin = tie."""
    rng = np.random.default_rng(3)
    bins = np.minimum((rng.uniform(size=60) * ESTIMATE_BINS).astype(int), ESTIMATE_BINS - 1)
    p = (bins + 0.5) / ESTIMATE_BINS
    wins = total = 0.0
    for i in range(60):
        for j in range(60):
            weight = p[i] * (1 - p[j])
            total += weight
            wins += weight * (1.0 if bins[i] > bins[j] else 0.5 if bins[i] == bins[j] else 0.0)
    estimated = estimated_metrics(estimate_fields((q, 0) for q in p))
    assert estimated["roc_auc"] == pytest.approx(wins / total, abs=1e-9)


def test_expected_confusion_matrix_by_hand() -> None:
    m = estimated_metrics(estimate_fields([(0.905, 1), (0.205, 0), (0.605, 1), (0.405, 0)]))
    tp, fp, fn, tn = 0.905 + 0.605, 0.095 + 0.395, 0.205 + 0.405, 0.795 + 0.595
    assert m["positives"] == pytest.approx(tp + fn)
    assert m["accuracy"] == pytest.approx((tp + tn) / 4)
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_fields_add_up_across_batches_as_redis_adds_them() -> None:
    risk, _, decided = calibrated_window(1_000, seed=5)
    pairs = list(zip(risk, decided, strict=True))
    whole = estimate_fields(pairs)
    assert estimate_fields(pairs[:400]) + estimate_fields(pairs[400:]) == whole
    assert sum(whole.values()) == 1_000


def test_a_reference_recalibrates_underconfident_scores() -> None:
    """Served scores squeezed toward 0.5 understate the model; the reference's observed rates
    per score bin repair the estimate."""
    rng = np.random.default_rng(11)
    true_p = rng.beta(0.6, 0.9, 30_000)
    y = (rng.uniform(size=true_p.size) < true_p).astype(int)
    served = 0.3 + 0.4 * true_p  # monotone, underconfident
    decided = (served >= 0.5).astype(int)
    reference = reference_fields(zip(served[:5_000], y[:5_000], strict=True))
    probability = reference_probability(reference, minimum=5_000)
    assert probability is not None
    assert np.all(np.diff(probability) >= 0)
    later = slice(5_000, None)
    fields = estimate_fields(zip(served[later], decided[later], strict=True))
    truth = roc_auc_score(y[later], served[later])
    raw = estimated_metrics(fields)["roc_auc"]
    recalibrated = estimated_metrics(fields, probability)["roc_auc"]
    assert abs(recalibrated - truth) < 0.01 < abs(raw - truth)
    accuracy = accuracy_score(y[later], decided[later])
    assert estimated_metrics(fields, probability)["accuracy"] == pytest.approx(accuracy, abs=0.01)


def test_an_incomplete_or_one_class_reference_gives_no_probability() -> None:
    few = reference_fields([(0.3, 0), (0.7, 1)] * 40)
    assert reference_probability(few, minimum=100) is None
    one_class = reference_fields([(0.3, 0)] * 200)
    assert reference_probability(one_class, minimum=100) is None


def test_under_concept_drift_the_estimate_misses_and_the_error_says_by_how_much() -> None:
    risk, y, decided = calibrated_window(20_000, seed=7)
    flipped = np.where(np.random.default_rng(8).uniform(size=y.size) < 0.3, 1 - y, y)
    rows = zip(flipped, risk, decided, strict=True)
    outcomes = [Outcome(int(t), float(r), int(d)) for t, r, d in rows]
    realized = window_metrics(performance_fields(outcomes))
    estimated = estimated_metrics(estimate_fields((o.risk, o.predicted) for o in outcomes))
    errors = estimate_errors(estimated, realized)
    assert errors["accuracy"] > 0.05  # scores no longer mean what they say: optimistic
    assert errors["roc_auc"] > 0.05
    assert errors["accuracy"] == pytest.approx(estimated["accuracy"] - realized["accuracy"])


def test_an_empty_window_estimates_nothing() -> None:
    estimated = estimated_metrics({})
    assert estimated["n"] == 0
    assert all(estimated[k] != estimated[k] for k in ("accuracy", "f1", "roc_auc"))
    assert estimate_errors(estimated, {"accuracy": 0.8}) == {}


def test_window_record_drops_undefined_metrics_and_carries_the_error() -> None:
    estimated = {"n": 200.0, "accuracy": 0.8, "roc_auc": float("nan"), "f1": 0.6}
    realized = {"n": 200.0, "accuracy": 0.75, "f1": 0.62, "brier": 0.17}
    record = window_record("m", "3", "REALIZED", (0, 300_000), estimated, realized)
    assert record.sample_size == 200
    assert record.estimated == {"accuracy": 0.8, "f1": 0.6}
    assert record.realized == {"accuracy": 0.75, "f1": 0.62, "brier": 0.17}
    assert record.estimate_error == pytest.approx({"accuracy": 0.05, "f1": -0.02})
    before = window_record("m", "3", "ESTIMATED", (0, 300_000), estimated)
    assert before.realized == {} and before.estimate_error == {}


def test_an_estimated_drop_is_a_performance_estimate_condition() -> None:
    thresholds = PerformanceThresholds(gates={"accuracy": 0.7}, min_sample=100)
    risk, _, _ = calibrated_window(2_000, seed=9)
    uncertain = np.full(2_000, 0.45)  # the model no longer separates: expected accuracy 0.55
    estimated = estimated_metrics(estimate_fields((r, 0) for r in uncertain))
    validation = {"test_accuracy": 0.8, "test_roc_auc": 0.85, "test_f1": 0.7}
    conditions = performance_conditions(
        estimated, validation, thresholds, kind="PERFORMANCE_ESTIMATE"
    )
    by_name = {c.name: c for c in conditions}
    assert by_name["estimate:accuracy"].breached
    assert by_name["estimate:accuracy"].kind == "PERFORMANCE_ESTIMATE"
    assert by_name["estimate:roc_auc"].breached  # 0.5: no ranking left
    healthy = estimated_metrics(estimate_fields((r, int(r >= 0.5)) for r in risk))
    healthy_validation = {f"test_{k}": healthy[k] for k in ("accuracy", "roc_auc", "f1")}
    quiet = performance_conditions(
        healthy, healthy_validation, thresholds, kind="PERFORMANCE_ESTIMATE"
    )
    assert len(quiet) == 3 and not any(c.breached for c in quiet)
