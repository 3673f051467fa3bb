"""The candidate model families and their small hyperparameter grids.

Every candidate is a scikit-learn-compatible classifier (fit / predict_proba) so one search,
one contract suite and one bundle format serve them all. The river model also learns online
(``learn_one``): `riskstream run learner` feeds it the labeled-example stream.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier


class RiverLogistic(ClassifierMixin, BaseEstimator):
    """river's online logistic regression (with its running StandardScaler) behind the
    scikit-learn interface, so it is searched and stored like the others."""

    def __init__(self, lr: float = 0.05, l2: float = 0.0, epochs: int = 5, seed: int = 0) -> None:
        self.lr = lr
        self.l2 = l2
        self.epochs = epochs
        self.seed = seed

    def _new_model(self) -> Any:
        from river import compose, linear_model, optim, preprocessing

        return compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(self.lr), l2=self.l2),
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> RiverLogistic:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        self.model_ = self._new_model()
        self.classes_ = np.array([0, 1])
        order = list(range(len(y)))
        rng = random.Random(self.seed)
        for _ in range(self.epochs):
            rng.shuffle(order)
            for i in order:
                self.model_.learn_one(_row(X[i]), bool(y[i]))
        return self

    def learn_one(self, x: np.ndarray, y: int) -> None:
        """Online update from one labeled example (`riskstream run learner`)."""
        self.model_.learn_one(_row(np.asarray(x, dtype=float)), bool(y))

    def predict_one(self, x: np.ndarray) -> float:
        """The risk of one row, without the frame a batch needs."""
        return float(self.model_.predict_proba_one(_row(np.asarray(x, dtype=float))).get(True, 0.0))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        p = np.array([self.model_.predict_proba_one(_row(x)).get(True, 0.0) for x in X])
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _row(x: np.ndarray) -> dict[int, float]:
    return {i: float(v) for i, v in enumerate(x)}


@dataclass(frozen=True)
class Candidate:
    """One model family: how to build it, its grid, and how complex it is."""

    name: str
    complexity: int
    build: Callable[[int], Any]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    explainer: str = "occlusion"  # linear | tree_shap | occlusion


def _logistic(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000, random_state=seed)),
        ]
    )


def _forest(seed: int) -> RandomForestClassifier:
    # 50 trees, not 100: the forest was 60-70% of the search's time and never selected (see
    # BENCHMARKS.md, "What the search costs"); its CV ROC-AUC moved by less than its SE
    return RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)


def _xgboost(seed: int) -> XGBClassifier:
    return XGBClassifier(
        n_estimators=150,
        learning_rate=0.05,
        subsample=0.9,
        random_state=seed,
        n_jobs=1,
        eval_metric="logloss",
    )


def _river(seed: int) -> RiverLogistic:
    return RiverLogistic(seed=seed)


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("logistic", 1, _logistic, {"model__C": [0.01, 0.1, 1.0, 10.0]}, "linear"),
    Candidate("river_logistic", 2, _river, {"lr": [0.01, 0.05], "l2": [0.0]}, "linear"),
    Candidate(
        "xgboost", 3, _xgboost, {"max_depth": [2, 3], "min_child_weight": [1, 5]}, "tree_shap"
    ),
    Candidate(
        "random_forest",
        4,
        _forest,
        {"max_depth": [5, 8], "min_samples_leaf": [1, 5]},
        "occlusion",
    ),
)


def candidate(name: str) -> Candidate:
    for entry in CANDIDATES:
        if entry.name == name:
            return entry
    raise KeyError(f"unknown candidate {name!r}; known: {[c.name for c in CANDIDATES]}")
