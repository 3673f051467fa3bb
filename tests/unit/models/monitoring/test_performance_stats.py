import math
import random

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from riskstream.models.monitoring.performance_stats import (
    SCORE_BINS,
    ErrorRateDetector,
    Outcome,
    PerformanceThresholds,
    performance_conditions,
    performance_fields,
    score_bin,
    standard_error,
    validation_metric,
    window_metrics,
)

GATES = {"accuracy": 0.72, "roc_auc": 0.80, "f1": 0.65}


def test_score_bin_edges() -> None:
    assert score_bin(0.0) == 0
    assert score_bin(0.05) == 1
    assert score_bin(1.0) == SCORE_BINS - 1


def test_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 2000)
    # scores on the bin grid, so binning loses nothing and AUC must match exactly
    risk = np.clip(labels * 0.3 + rng.random(2000) * 0.7, 0, 0.999)
    risk = (np.floor(risk * SCORE_BINS) + 0.5) / SCORE_BINS
    predicted = (risk >= 0.5).astype(int)
    fields = performance_fields(
        Outcome(int(y), float(r), int(p)) for y, r, p in zip(labels, risk, predicted, strict=True)
    )
    got = window_metrics(fields)
    assert got["n"] == 2000
    assert got["positives"] == labels.sum() and got["negatives"] == 2000 - labels.sum()
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert got["precision"] == pytest.approx(precision_score(labels, predicted))
    assert got["recall"] == pytest.approx(recall_score(labels, predicted))
    assert got["f1"] == pytest.approx(f1_score(labels, predicted))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, risk))
    assert got["brier"] == pytest.approx(brier_score_loss(labels, risk), abs=1e-6)


def test_fields_add_up_across_batches() -> None:
    outcomes = [Outcome(1, 0.9, 1), Outcome(0, 0.8, 1), Outcome(0, 0.1, 0), Outcome(1, 0.2, 0)]
    whole = performance_fields(outcomes)
    assert performance_fields(outcomes[:2]) + performance_fields(outcomes[2:]) == whole
    assert (whole["tp"], whole["fp"], whole["tn"], whole["fn"]) == (1, 1, 1, 1)
    assert whole["brier_u"] == round((0.01 + 0.64 + 0.01 + 0.64) * 1_000_000)


def test_the_brier_scores_standard_error_is_its_squared_errors_sd_over_root_n() -> None:
    rng = random.Random(3)
    outcomes = [Outcome(rng.random() < 0.4, r := rng.random(), int(r >= 0.5)) for _ in range(500)]
    got = window_metrics(performance_fields(outcomes))
    squared = np.array([(o.risk - o.label) ** 2 for o in outcomes])
    assert got["brier"] == pytest.approx(squared.mean(), abs=1e-5)
    se = standard_error("brier", got["brier"], got)
    assert se == pytest.approx(squared.std() / math.sqrt(500), rel=1e-3)
    # a window counted before brier_q existed has no known error, rather than a wrong one
    old = window_metrics({k: v for k, v in performance_fields(outcomes).items() if k != "brier_q"})
    assert math.isinf(standard_error("brier", old["brier"], old))


def test_undefined_metrics_are_nan() -> None:
    got = window_metrics(performance_fields([Outcome(0, 0.1, 0)] * 5))
    assert got["accuracy"] == 1.0
    assert math.isnan(got["precision"]) and math.isnan(got["roc_auc"]) and math.isnan(got["f1"])
    assert math.isnan(window_metrics({})["accuracy"])


def test_validation_metric_prefers_the_holdout() -> None:
    assert validation_metric({"cv_f1": 0.6, "test_f1": 0.7, "holdout_f1": 0.8}, "f1") == 0.8
    assert validation_metric({"cv_f1": 0.6, "test_f1": 0.7}, "f1") == 0.7
    assert validation_metric({"cv_f1": 0.6}, "f1") == 0.6
    assert validation_metric({}, "f1") is None


BIG = {"n": 1e6, "positives": 3.5e5, "negatives": 6.5e5, "f1_support": 5e5}  # no noise


def conditions(metrics, was=frozenset(), validation=None, counts=BIG):
    found = performance_conditions(
        {**counts, **metrics},
        validation if validation is not None else {"test_accuracy": 0.80, "test_roc_auc": 0.88},
        PerformanceThresholds(GATES, max_relative_drop=0.10, min_sample=100),
        was,
    )
    return {c.statistic: c for c in found}


def test_a_relative_drop_breaches_before_the_gate() -> None:
    found = conditions({"accuracy": 0.71, "roc_auc": 0.85, "f1": 0.70})
    # accuracy floor: max(0.72 gate, 0.9 x 0.80 = 0.72); AUC floor: max(0.80, 0.792) = 0.80
    assert found["accuracy"].breached and found["accuracy"].threshold == pytest.approx(0.72)
    assert not found["roc_auc"].breached and found["roc_auc"].threshold == pytest.approx(0.80)
    found = conditions(
        {"accuracy": 0.78, "roc_auc": 0.78, "f1": 0.70}, validation={"test_roc_auc": 0.95}
    )
    assert found["roc_auc"].breached and found["roc_auc"].threshold == pytest.approx(0.855)
    assert found["roc_auc"].kind == "PERFORMANCE" and found["roc_auc"].severity == "HIGH"


def test_severity_and_hysteresis() -> None:
    assert conditions({"accuracy": 0.55})["accuracy"].severity == "CRITICAL"
    was = frozenset({"performance:accuracy"})
    # 0.74 passes the 0.72 floor, but not the recovery bar max(0.72, 0.95 x 0.80 = 0.76)
    assert not conditions({"accuracy": 0.74})["accuracy"].breached
    assert conditions({"accuracy": 0.74}, was)["accuracy"].breached
    assert not conditions({"accuracy": 0.77}, was)["accuracy"].breached


def test_a_small_dip_in_a_small_window_is_noise_not_a_breach() -> None:
    small = {"n": 150, "positives": 50, "negatives": 100, "f1_support": 60}
    # 0.68 is below the 0.72 floor, but with 150 examples its standard error is 0.038
    assert standard_error("accuracy", 0.68, small) == pytest.approx(0.0381, abs=1e-3)
    assert not conditions({"accuracy": 0.68}, counts=small)["accuracy"].breached
    assert conditions({"accuracy": 0.55}, counts=small)["accuracy"].breached
    assert not conditions({"roc_auc": 0.76}, counts=small)["roc_auc"].breached
    assert conditions({"roc_auc": 0.60}, counts=small)["roc_auc"].breached


def test_hanley_mcneil_standard_error() -> None:
    # by hand: Q1 = 0.9/1.1, Q2 = 1.62/1.9; (0.09 + 49(Q1 - 0.81) + 49(Q2 - 0.81)) / 2500
    assert standard_error("roc_auc", 0.9, {"positives": 50, "negatives": 50}) == pytest.approx(
        0.03212, abs=1e-5
    )
    assert standard_error("roc_auc", 0.9, {"positives": 0, "negatives": 50}) == math.inf


def test_no_verdict_on_small_windows_or_undefined_metrics() -> None:
    assert (
        performance_conditions(
            {"n": 50, "accuracy": 0.1}, {}, PerformanceThresholds(GATES, min_sample=100)
        )
        == []
    )
    assert "roc_auc" not in conditions({"accuracy": 0.9, "roc_auc": float("nan")})


def test_adwin_fires_on_a_rising_error_rate_and_resolves_when_it_falls() -> None:
    rng = random.Random(7)
    detector = ErrorRateDetector()
    stream = [rng.random() < 0.2 for _ in range(4000)]
    assert detector.update(int(e) for e in stream) == []  # a stable rate never fires
    shifts = detector.update(int(rng.random() < 0.45) for _ in range(2000))
    assert [s.status for s in shifts] == ["FIRING"]
    assert shifts[0].after > shifts[0].before and shifts[0].seen - 4000 < 500
    shifts = detector.update(int(rng.random() < 0.2) for _ in range(4000))
    assert [s.status for s in shifts] == ["RESOLVED"]


def test_the_z_of_a_verdict_grows_with_the_segments_judged() -> None:
    from riskstream.models.monitoring.performance_stats import PerformanceThresholds, corrected_z

    assert corrected_z(1) == pytest.approx(PerformanceThresholds(gates={}).z, abs=0.01)
    assert corrected_z(1) < corrected_z(5) < corrected_z(11)
    assert corrected_z(5) == pytest.approx(3.209, abs=0.001)  # norm.ppf(1 - 0.01 / 15)
