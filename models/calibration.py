"""Score calibration: a monotone map from a model's raw scores to probabilities that mean what
they say, fitted on cross-validated out-of-fold scores. Pure computation; no I/O.

Why: performance estimated without labels (CBPE, ``stream_processors.estimation``) reads a
score of 0.3 as "3 in 10 such patients are positive"; that holds only for calibrated scores.

Two methods, chosen by 5-fold CV on the out-of-fold scores (lower Brier score wins):
Platt scaling (a logistic fit on the score's log-odds) and isotonic regression (sklearn's
``IsotonicRegression``). The fitted map is applied to the estimator fitted on every row, as
sklearn's ``CalibratedClassifierCV(ensemble=False)`` does. Isotonic steps tie scores that
were ordered; a 1e-5 share of the raw score is mixed in so the map stays strictly increasing:
rankings (ROC-AUC) and decisions at the mapped threshold are exactly those of the raw model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

METHODS = ("platt", "isotonic")
RELIABILITY_BINS = 10
TIE_BREAK = 1e-5  # share of the raw score mixed into the isotonic map (keeps it strict)
FOLDS = 5


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability table: scores in [lower, upper)."""

    lower: float
    upper: float
    n: int
    mean_risk: float  # the mean calibrated score (NaN when empty)
    observed: float  # the observed positive rate (NaN when empty)


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration map, with its honest (cross-fitted) quality."""

    method: str
    a: float = 1.0  # Platt: sigmoid(a * logit(p) + b)
    b: float = 0.0
    xs: tuple[float, ...] = ()  # isotonic breakpoints (raw score → calibrated)
    ys: tuple[float, ...] = ()
    ece: float = float("nan")  # of cross-fitted calibrated out-of-fold scores
    ece_uncalibrated: float = float("nan")  # of the raw out-of-fold scores
    brier: float = float("nan")
    reliability: tuple[ReliabilityBin, ...] = ()

    def apply(self, risk: np.ndarray) -> np.ndarray:
        p = np.asarray(risk, dtype=float)
        if self.method == "platt":
            return np.asarray(_sigmoid(self.a * _logit(p) + self.b))
        if self.method == "isotonic":
            stepped = np.interp(p, self.xs, self.ys)
            return np.asarray((1 - TIE_BREAK) * stepped + TIE_BREAK * p)
        raise ValueError(f"unknown calibration method {self.method!r}")

    def describe(self) -> str:
        return f"{self.method} (ECE {self.ece:.3f}, raw {self.ece_uncalibrated:.3f})"

    def reliability_text(self) -> str:
        """The table in one line, ``lower-upper:n:mean/observed`` per bin, for a registry tag."""
        return " ".join(
            f"{b.lower:.1f}-{b.upper:.1f}:{b.n}:{b.mean_risk:.3f}/{b.observed:.3f}"
            for b in self.reliability
            if b.n
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(p / (1 - p)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-z)))


def fit_method(method: str, risk: np.ndarray, y: np.ndarray) -> Calibration:
    """Fit one method on (raw score, label) pairs."""
    risk, y = np.asarray(risk, dtype=float), np.asarray(y, dtype=int)
    if method == "platt":
        fit = LogisticRegression(C=1e6).fit(_logit(risk).reshape(-1, 1), y)
        return Calibration("platt", a=float(fit.coef_[0, 0]), b=float(fit.intercept_[0]))
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(risk, y)
        return Calibration(
            "isotonic",
            xs=tuple(float(x) for x in iso.X_thresholds_),
            ys=tuple(float(v) for v in iso.y_thresholds_),
        )
    raise ValueError(f"unknown calibration method {method!r}: use one of {METHODS}")


def expected_calibration_error(risk: np.ndarray, y: np.ndarray) -> float:
    """ECE over ``RELIABILITY_BINS`` equal-width bins: the records-weighted mean of
    |mean score - observed positive rate|."""
    table = reliability_table(risk, y)
    n = sum(b.n for b in table)
    if n == 0:
        return float("nan")
    return float(sum(b.n * abs(b.mean_risk - b.observed) for b in table if b.n) / n)


def reliability_table(risk: np.ndarray, y: np.ndarray) -> tuple[ReliabilityBin, ...]:
    risk, y = np.asarray(risk, dtype=float), np.asarray(y, dtype=int)
    index = np.minimum((risk * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    table = []
    for b in range(RELIABILITY_BINS):
        inside = index == b
        n = int(inside.sum())
        nan = float("nan")
        table.append(
            ReliabilityBin(
                b / RELIABILITY_BINS,
                (b + 1) / RELIABILITY_BINS,
                n,
                float(risk[inside].mean()) if n else nan,
                float(y[inside].mean()) if n else nan,
            )
        )
    return tuple(table)


def cross_fitted(method: str, risk: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each row's score calibrated by a map fitted on the other folds."""
    risk, y = np.asarray(risk, dtype=float), np.asarray(y, dtype=int)
    out = np.empty_like(risk)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for train, held in folds.split(risk.reshape(-1, 1), y):
        out[held] = fit_method(method, risk[train], y[train]).apply(risk[held])
    return out


def calibrate(oof_risk: np.ndarray, y: np.ndarray, seed: int = 0) -> Calibration:
    """Choose Platt or isotonic by cross-validated Brier score on out-of-fold scores, fit the
    winner on all of them, and attach its cross-fitted ECE and reliability table."""
    risk, y = np.asarray(oof_risk, dtype=float), np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2 or np.bincount(y).min() < FOLDS:
        raise ValueError("calibration needs at least 5 examples of each class")
    honest = {m: cross_fitted(m, risk, y, seed) for m in METHODS}
    brier = {m: float(np.mean((honest[m] - y) ** 2)) for m in METHODS}
    chosen = min(METHODS, key=lambda m: brier[m])
    fitted = fit_method(chosen, risk, y)
    if chosen == "platt" and fitted.a <= 0:  # a decreasing map would reverse the ranking
        chosen, fitted = "isotonic", fit_method("isotonic", risk, y)
    return Calibration(
        chosen,
        a=fitted.a,
        b=fitted.b,
        xs=fitted.xs,
        ys=fitted.ys,
        ece=expected_calibration_error(honest[chosen], y),
        ece_uncalibrated=expected_calibration_error(risk, y),
        brier=brier[chosen],
        reliability=reliability_table(honest[chosen], y),
    )
