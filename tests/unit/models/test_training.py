"""Training: the refit keeps the champion's family, hyperparameters and features, and
learns the new data; the full search and the refit fit a configured candidate alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskstream.models import data
from riskstream.models.candidates import candidate
from riskstream.models.training import TrainingResult, refit, train


@pytest.fixture(scope="module")
def champion() -> TrainingResult:
    raw, y = data.load(data.TRAIN_FILE)
    return train(raw, y, candidates=[candidate("logistic")], engineered=["glucose_x_bmi"])


def _shifted() -> tuple[pd.DataFrame, pd.Series]:
    """Pima.tr2 with glucose shifted by 30 mg/dL and the outcome following the shift."""
    raw, y = data.load(data.TRAIN_FILE)
    moved = raw.copy()
    moved["glucose"] = moved["glucose"] + 30
    outcome = (moved["glucose"] > moved["glucose"].median()).astype(int)
    return pd.concat([raw, moved], ignore_index=True), pd.concat([y, outcome], ignore_index=True)


def test_a_refit_keeps_the_family_hyperparameters_and_features(
    champion: TrainingResult,
) -> None:
    raw, y = _shifted()
    again = refit(champion.model, raw, y, seed=0)
    assert again.model.kind == champion.model.kind == "logistic"
    assert again.selected.best_params == champion.selected.best_params
    assert "model__C" in again.selected.best_params
    assert again.pipeline.engineered == ("glucose_x_bmi",)
    assert [c.name for c in again.candidates] == ["logistic"]
    # it learned the new data: other coefficients, another reference
    before = champion.model.estimator.named_steps["model"].coef_
    after = again.model.estimator.named_steps["model"].coef_
    assert not np.allclose(before, after)
    assert again.model.reference["n"] == len(raw) != champion.model.reference["n"]
    assert again.model.calibration is not None and 0 < again.model.threshold < 1
    assert 0.5 < again.selected.cv_mean <= 1 and again.selected.cv_std_error > 0


def test_a_refit_on_the_same_data_matches_the_search_of_that_candidate(
    champion: TrainingResult,
) -> None:
    raw, y = data.load(data.TRAIN_FILE)
    again = refit(champion.model, raw, y, seed=0)
    assert again.selected.cv_mean == pytest.approx(champion.selected.cv_mean, abs=1e-9)
    assert again.model.threshold == pytest.approx(champion.model.threshold)
    _, first = champion.model.predict_frame(raw)
    _, second = again.model.predict_frame(raw)
    np.testing.assert_allclose(first, second)


def test_a_refit_of_a_tree_champion_keeps_its_depth() -> None:
    raw, y = data.load(data.TRAIN_FILE)
    trees = train(raw, y, candidates=[candidate("xgboost")], engineered=[])
    again = refit(trees.model, *_shifted(), seed=0)
    assert again.model.kind == "xgboost"
    assert again.selected.best_params == trees.selected.best_params
    assert (
        again.model.estimator.get_params()["max_depth"] == trees.selected.best_params["max_depth"]
    )
