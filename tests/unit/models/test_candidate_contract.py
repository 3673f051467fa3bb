"""One contract every candidate family must pass (river-style): fit, probabilities of the
right shape and range, a save/load round trip through the bundle, determinism by seed."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskstream.models import data
from riskstream.models.bundle import ModelLoadError, ScoringModel
from riskstream.models.candidates import CANDIDATES, Candidate
from riskstream.models.features import FeaturePipeline
from riskstream.models.reference import reference_distribution


@pytest.fixture(scope="module")
def pima() -> tuple[pd.DataFrame, pd.Series, FeaturePipeline]:
    raw, y = data.load(data.TRAIN_FILE)
    return raw, y, FeaturePipeline(["glucose_per_age"]).fit(raw)


def _bundle(spec: Candidate, pima: tuple, seed: int = 0) -> ScoringModel:
    raw, y, pipe = pima
    X = pipe.transform(raw)
    estimator = spec.build(seed).fit(X, y.to_numpy())
    risk = estimator.predict_proba(X)[:, 1]
    return ScoringModel(
        spec.name,
        spec.explainer,
        pipe,
        estimator,
        0.5,
        reference_distribution(raw, pipe.frame(raw), risk),
    )


@pytest.mark.parametrize("spec", CANDIDATES, ids=lambda c: c.name)
def test_fit_and_probabilities(spec: Candidate, pima: tuple) -> None:
    model = _bundle(spec, pima)
    raw, y, _ = pima
    _, risk = model.predict_frame(raw)
    assert risk.shape == (len(raw),)
    assert np.all((risk >= 0) & (risk <= 1))
    proba = model.estimator.predict_proba(model.pipeline.transform(raw))
    assert proba.shape == (len(raw), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # It learned something: better than chance on its own training data.
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, risk) > 0.75


@pytest.mark.parametrize("spec", CANDIDATES, ids=lambda c: c.name)
def test_save_load_round_trip(spec: Candidate, pima: tuple, tmp_path: Path) -> None:
    model = _bundle(spec, pima)
    raw = pima[0].head(20)
    model.save(tmp_path)
    loaded = ScoringModel.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_frame(raw)[1], model.predict_frame(raw)[1])


@pytest.mark.parametrize("spec", CANDIDATES, ids=lambda c: c.name)
def test_deterministic_with_a_seed(spec: Candidate, pima: tuple) -> None:
    raw = pima[0].head(30)
    a = _bundle(spec, pima, seed=7).predict_frame(raw)[1]
    b = _bundle(spec, pima, seed=7).predict_frame(raw)[1]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", CANDIDATES, ids=lambda c: c.name)
def test_top3_contributions(spec: Candidate, pima: tuple) -> None:
    model = _bundle(spec, pima)
    X = model.pipeline.transform(pima[0].head(4))
    explained = model.contributions(X, top=3)
    assert len(explained) == 4
    for row in explained:
        assert len(row) == 3
        assert {name for name, _ in row} <= set(model.feature_names)
        magnitudes = [abs(v) for _, v in row]
        assert magnitudes == sorted(magnitudes, reverse=True)


def test_linear_contributions_are_coefficient_times_scaled_value(pima: tuple) -> None:
    model = _bundle(CANDIDATES[0], pima)
    X = model.pipeline.transform(pima[0].head(1))
    scaler, lr = model.estimator.named_steps["scale"], model.estimator.named_steps["model"]
    expected = scaler.transform(X)[0] * lr.coef_[0]
    name, value = model.contributions(X, top=1)[0][0]
    assert value == pytest.approx(expected[model.feature_names.index(name)])
    assert abs(value) == pytest.approx(np.abs(expected).max())


def test_xgboost_contributions_add_up_to_the_margin(pima: tuple) -> None:
    spec = next(c for c in CANDIDATES if c.name == "xgboost")
    model = _bundle(spec, pima)
    X = model.pipeline.transform(pima[0].head(3))
    full = model._contribution_matrix(X)
    margin = model.estimator.get_booster().predict(
        __import__("xgboost").DMatrix(X), output_margin=True
    )
    bias = margin - full.sum(axis=1)
    assert np.allclose(bias, bias[0], atol=1e-4)  # the rest is the constant bias


def test_a_corrupt_artifact_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "bundle.pkl").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelLoadError):
        ScoringModel.load(tmp_path)
    with pytest.raises(ModelLoadError):
        ScoringModel.load(tmp_path / "nothing-here")
