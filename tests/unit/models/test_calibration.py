import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from riskstream.models import data
from riskstream.models.calibration import (
    Calibration,
    calibrate,
    expected_calibration_error,
    fit_method,
    reliability_table,
)
from riskstream.models.training import evaluate_model, train


def miscalibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a true probability, and an overconfident score of it."""
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < true_p).astype(int)
    logit = np.log(true_p / (1 - true_p))
    score = 1 / (1 + np.exp(-3 * logit))  # three times too confident
    return score, y


def test_ece_of_a_perfectly_calibrated_score_is_small_and_of_an_overconfident_one_large() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=50_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(p, y) < 0.01
    score, y2 = miscalibrated(50_000)
    assert expected_calibration_error(score, y2) > 0.08


def test_ece_is_the_weighted_gap_of_the_reliability_table() -> None:
    risk = np.array([0.05, 0.05, 0.95, 0.95])
    y = np.array([0, 1, 1, 1])
    table = reliability_table(risk, y)
    assert [b.n for b in table if b.n] == [2, 2]
    # bin 0: mean 0.05 vs observed 0.5 → 0.45; bin 9: 0.95 vs 1.0 → 0.05; each half the rows
    assert expected_calibration_error(risk, y) == pytest.approx((0.45 + 0.05) / 2)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_each_method_repairs_an_overconfident_score(method: str) -> None:
    score, y = miscalibrated(20_000)
    fitted = fit_method(method, score, y)
    fresh_score, fresh_y = miscalibrated(20_000, seed=2)
    before = expected_calibration_error(fresh_score, fresh_y)
    after = expected_calibration_error(fitted.apply(fresh_score), fresh_y)
    assert after < before / 3


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_the_map_is_strictly_increasing_so_rankings_and_auc_are_kept(method: str) -> None:
    score, y = miscalibrated(5_000)
    fitted = fit_method(method, score, y)
    grid = np.linspace(0, 1, 10_001)
    assert np.all(np.diff(fitted.apply(grid)) > 0)
    assert roc_auc_score(y, fitted.apply(score)) == pytest.approx(
        roc_auc_score(y, score), abs=1e-12
    )


def test_calibrate_chooses_by_cv_and_reports_cross_fitted_quality() -> None:
    score, y = miscalibrated(4_000)
    chosen = calibrate(score, y)
    assert chosen.method in ("platt", "isotonic")
    assert chosen.ece < chosen.ece_uncalibrated / 2
    assert sum(b.n for b in chosen.reliability) == 4_000
    assert chosen.reliability_text().count(":") == 2 * sum(1 for b in chosen.reliability if b.n)


def test_calibrate_refuses_too_few_of_a_class() -> None:
    with pytest.raises(ValueError, match="5 examples of each class"):
        calibrate(np.array([0.1, 0.2, 0.8, 0.9, 0.7, 0.6]), np.array([0, 0, 1, 1, 1, 1]))


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibration("magic").apply(np.array([0.5]))


def test_calibrated_champion_is_not_worse_on_pima_te() -> None:
    """The issue's bar: calibrating must not cost Pima.te accuracy or ROC-AUC."""
    raw, y = data.load(data.TRAIN_FILE)
    test_raw, test_y = data.load(data.HOLDOUT_FILE)
    result = train(raw, y, engineered=["glucose_per_age"])
    calibrated = result.model
    assert calibrated.calibration is not None
    uncalibrated = type(calibrated)(
        calibrated.kind,
        calibrated.explainer,
        calibrated.pipeline,
        calibrated.estimator,
        result.selected.threshold,
        calibrated.reference,
    )
    # the raw threshold (on choose_threshold's 0.01 grid) that the served one was mapped from
    grid = np.linspace(0, 1, 100_001)
    mapped = calibrated.calibration.apply(grid)
    uncalibrated.threshold = round(float(grid[np.searchsorted(mapped, calibrated.threshold)]), 2)
    after = evaluate_model(calibrated, test_raw, test_y)
    before = evaluate_model(uncalibrated, test_raw, test_y)
    assert after["accuracy"] >= before["accuracy"]
    assert after["roc_auc"] >= before["roc_auc"] - 1e-12
    assert result.selected.cv_metrics["ece"] < 0.1
