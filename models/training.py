"""Training: engineered-feature choice, the CV search over candidates, the threshold, and the
evaluation on held-out data. Pure computation on frames; MLflow lives in ``registry``."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_predict,
    cross_val_score,
)

from riskstream.models.bundle import ScoringModel
from riskstream.models.calibration import Calibration, calibrate
from riskstream.models.candidates import CANDIDATES, Candidate, candidate
from riskstream.models.features import ENGINEERED, FeaturePipeline
from riskstream.models.reference import reference_distribution
from riskstream.models.selection import CandidateScore, choose_threshold, evaluate, select_candidate

log = logging.getLogger(__name__)
FOLDS = 5
# An engineered feature is kept only if it lifts the CV ROC-AUC of the logistic baseline by
# at least this much: below it, the lift is within fold-to-fold noise.
MIN_FEATURE_LIFT = 0.002


@dataclass
class CandidateResult:
    name: str
    cv_mean: float
    cv_std_error: float
    best_params: dict[str, Any]
    estimator: Any  # fitted on all training rows
    oof_risk: np.ndarray
    threshold: float
    cv_metrics: dict[str, float]
    explainer: str
    complexity: int
    calibration: Calibration | None = None  # None: too few rows of a class to calibrate


@dataclass
class TrainingResult:
    pipeline: FeaturePipeline
    candidates: list[CandidateResult]
    selected: CandidateResult
    model: ScoringModel
    feature_lifts: dict[str, float] = field(default_factory=dict)


def _cv(seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)


def choose_engineered(
    raw: pd.DataFrame, y: pd.Series, seed: int = 0, metric: str = "roc_auc"
) -> tuple[list[str], dict[str, float]]:
    """Greedy forward selection of engineered features by the logistic baseline's CV score."""
    baseline = candidate("logistic").build(seed)
    chosen: list[str] = []
    lifts: dict[str, float] = {}

    def score(names: Sequence[str]) -> float:
        X = FeaturePipeline(names).fit(raw).transform(raw)
        return float(cross_val_score(clone(baseline), X, y, cv=_cv(seed), scoring=metric).mean())

    current = score(chosen)
    remaining = list(ENGINEERED)
    while remaining:
        trials = {name: score([*chosen, name]) - current for name in remaining}
        lifts.update({k: round(v, 5) for k, v in trials.items() if k not in lifts})
        best = max(trials, key=lambda k: trials[k])
        if trials[best] < MIN_FEATURE_LIFT:
            break
        chosen.append(best)
        current += trials[best]
        remaining.remove(best)
    return chosen, lifts


def search_candidate(
    spec: Candidate, X: np.ndarray, y: np.ndarray, seed: int, metric: str
) -> CandidateResult:
    """Tune the candidate over its grid with CV, then fit it (see :func:`fit_candidate`)."""
    search = GridSearchCV(
        spec.build(seed), spec.grid, cv=_cv(seed), scoring=metric, n_jobs=1, refit=False
    )
    search.fit(X, y)
    best = search.best_index_
    fold_scores = [search.cv_results_[f"split{k}_test_score"][best] for k in range(FOLDS)]
    tuned = clone(spec.build(seed)).set_params(**search.best_params_)
    return fit_candidate(spec, tuned, X, y, seed, fold_scores, dict(search.best_params_))


def fit_candidate(
    spec: Candidate,
    estimator: Any,
    X: np.ndarray,
    y: np.ndarray,
    seed: int,
    fold_scores: Sequence[float],
    params: dict[str, Any],
) -> CandidateResult:
    """One configured estimator: its out-of-fold risks choose the threshold and fit the
    calibration, then it is fitted on every row."""
    oof = cross_val_predict(clone(estimator), X, y, cv=_cv(seed), method="predict_proba")[:, 1]
    threshold = choose_threshold(y, oof)
    calibration = _calibration(oof, y, seed)
    if calibration is not None:
        # the same decisions as the raw threshold: the map is strictly increasing
        oof = calibration.apply(oof)
        threshold = float(calibration.apply(np.array([threshold]))[0])
    cv_metrics = evaluate(y, oof, threshold)
    if calibration is not None:  # honest: each row calibrated by a map fitted on other folds
        cv_metrics |= {
            "brier": calibration.brier,
            "ece": calibration.ece,
            "ece_uncalibrated": calibration.ece_uncalibrated,
        }
    fitted = clone(estimator).fit(X, y)
    return CandidateResult(
        name=spec.name,
        cv_mean=float(np.mean(fold_scores)),
        cv_std_error=float(np.std(fold_scores, ddof=1) / math.sqrt(FOLDS)),
        best_params=params,
        estimator=fitted,
        oof_risk=oof,
        threshold=threshold,
        cv_metrics=cv_metrics,
        explainer=spec.explainer,
        complexity=spec.complexity,
        calibration=calibration,
    )


def _calibration(oof: np.ndarray, y: np.ndarray, seed: int) -> Calibration | None:
    try:
        return calibrate(oof, y, seed)
    except ValueError as exc:  # too few examples of a class: serve raw scores
        log.info("scores left uncalibrated: %s", exc)
        return None


def train(
    raw: pd.DataFrame,
    y: pd.Series,
    *,
    seed: int = 0,
    metric: str = "roc_auc",
    rule: str = "one_se",
    candidates: Sequence[Candidate] = CANDIDATES,
    engineered: Sequence[str] | None = None,
) -> TrainingResult:
    """Search every candidate with stratified 5-fold CV and select one by ``rule``."""
    lifts: dict[str, float] = {}
    if engineered is None:
        engineered, lifts = choose_engineered(raw, y, seed, metric)
    pipeline = FeaturePipeline(engineered).fit(raw)
    X = pipeline.transform(raw)
    target = y.to_numpy(dtype=int)
    results = []
    for spec in candidates:
        log.info("searching %s over %d settings", spec.name, _grid_size(spec.grid))
        results.append(search_candidate(spec, X, target, seed, metric))
    scores = [CandidateScore(r.name, r.complexity, r.cv_mean, r.cv_std_error) for r in results]
    chosen = select_candidate(scores, rule)
    selected = next(r for r in results if r.name == chosen.name)
    return _selected(pipeline, results, selected, raw, X, lifts)


def _selected(
    pipeline: FeaturePipeline,
    results: list[CandidateResult],
    selected: CandidateResult,
    raw: pd.DataFrame,
    X: np.ndarray,
    lifts: dict[str, float] | None = None,
) -> TrainingResult:
    """The selected candidate as a servable model, with its reference and self-check."""
    risk = selected.estimator.predict_proba(X)[:, 1]
    if selected.calibration is not None:
        risk = selected.calibration.apply(risk)
    model = ScoringModel(
        kind=selected.name,
        explainer=selected.explainer,
        pipeline=pipeline,
        estimator=selected.estimator,
        threshold=selected.threshold,
        reference=reference_distribution(raw, pipeline.frame(raw), risk),
        metrics={f"cv_{k}": v for k, v in selected.cv_metrics.items()},
        calibration=selected.calibration,
    )
    model.self_check()
    return TrainingResult(pipeline, results, selected, model, lifts or {})


def refit(
    champion: ScoringModel,
    raw: pd.DataFrame,
    y: pd.Series,
    *,
    seed: int = 0,
    metric: str = "roc_auc",
) -> TrainingResult:
    """The champion's family, hyperparameters and engineered features, fitted again on
    ``raw``: the fast retrain that answers a drift in seconds (no grid, no feature search).
    The threshold and calibration are chosen again from out-of-fold risks, as in
    :func:`train`, so the version is calibrated for the traffic it learned."""
    spec = candidate(champion.kind)
    pipeline = FeaturePipeline(champion.pipeline.engineered).fit(raw)
    X = pipeline.transform(raw)
    target = y.to_numpy(dtype=int)
    estimator = clone(champion.estimator)  # unfitted, with the champion's hyperparameters
    params = {k: v for k, v in estimator.get_params(deep=True).items() if k in spec.grid}
    fold_scores = cross_val_score(clone(estimator), X, target, cv=_cv(seed), scoring=metric)
    result = fit_candidate(spec, estimator, X, target, seed, list(fold_scores), params)
    return _selected(pipeline, [result], result, raw, X)


def evaluate_model(model: ScoringModel, raw: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    _, risk = model.predict_frame(raw)
    return evaluate(y.to_numpy(dtype=int), risk, model.threshold)


def _grid_size(grid: dict[str, list[Any]]) -> int:
    return math.prod(len(v) for v in grid.values()) if grid else 1
