"""Pure policies of model selection: metrics, the decision threshold, quality gates, the
choice among candidates, and the promotion rule. No I/O; unit-tested hard."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from riskstream.core.worker_slices import PromotionSettings

METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall", "brier")
LOWER_IS_BETTER = frozenset({"brier"})
GATED = ("accuracy", "roc_auc", "f1")
SE_SUFFIX = "_se"  # a metric's bootstrap standard error rides beside it: ``f1_se``
NOISE_Z = 1.96  # a gate missed by at most this many standard errors is missed within noise
EXCUSED_LEAD_Z = 1.0  # an excused candidate's lead on the promotion metric, in its errors
RESAMPLES = 200
# resamples drawn at once: their counts are resamples x holdout rows, and 200 at once over a
# 10,000-row holdout took 110 MiB of the trainer's training process (measured 2026-12-05)
RESAMPLE_CHUNK = 20


def evaluate(
    y_true: Sequence[int] | np.ndarray, risk: np.ndarray, threshold: float
) -> dict[str, float]:
    """Every metric riskstream reports for one model on one labeled set. The threshold
    metrics come from the confusion counts, as sklearn defines them (``zero_division=0``):
    sklearn's own functions cost about 4 ms each in input checks, and a backtest asks 44
    times per version."""
    y = np.asarray(y_true, dtype=int)
    score = np.asarray(risk, dtype=float)
    predicted = score >= threshold
    actual = y == 1
    tp = int(np.count_nonzero(predicted & actual))
    fp = int(np.count_nonzero(predicted & ~actual))
    fn = int(np.count_nonzero(~predicted & actual))
    both_classes = len(np.unique(y)) == 2
    return {
        "accuracy": (len(y) - fp - fn) / len(y),
        "roc_auc": _roc_auc(y, score) if both_classes else float("nan"),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "brier": float(np.mean((score - y) ** 2)),
        "errors": float(fp + fn),
        "n": float(len(y)),
    }


def _roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """scikit-learn's, imported here: the trainer's own process decides promotions with this
    module and must not load scikit-learn for it (its training process computes metrics)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def sampling_errors(
    y_true: Sequence[int] | np.ndarray,
    risk: np.ndarray,
    threshold: float,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, float]:
    """Bootstrap standard errors of the gated metrics on one labeled set (``f1_se`` …): how
    far a holdout of a few hundred rows can put a metric from the model's true value. Each
    resample is a row of counts (how often each row was drawn), so all of them cost a few matrix
    products; ROC-AUC counts ties as half, as :func:`sklearn.metrics.roc_auc_score` does."""
    y = np.asarray(y_true, dtype=int) == 1
    score = np.asarray(risk, dtype=float)
    predicted = score >= threshold
    rng = np.random.default_rng(seed)
    chunks = [
        _resampled(rng, min(RESAMPLE_CHUNK, resamples - start), y, score, predicted)
        for start in range(0, resamples, RESAMPLE_CHUNK)
    ]
    accuracy, f1, auc = (np.concatenate(metric) for metric in zip(*chunks, strict=True))
    return {
        f"accuracy{SE_SUFFIX}": float(np.std(accuracy, ddof=1)),
        f"roc_auc{SE_SUFFIX}": float(np.nanstd(auc, ddof=1)) if np.isfinite(auc).sum() > 1 else 0.0,
        f"f1{SE_SUFFIX}": float(np.std(f1, ddof=1)),
    }


def _resampled(
    rng: np.random.Generator,
    resamples: int,
    y: np.ndarray,
    score: np.ndarray,
    predicted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy, F1 and ROC-AUC of ``resamples`` bootstrap resamples, drawn together."""
    n = len(y)
    drawn = rng.integers(0, n, size=(resamples, n))
    drawn += np.arange(resamples)[:, None] * n  # row b's draws count in row b
    counts = np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n)
    tp = counts @ (predicted & y)
    wrong = counts @ (predicted != y)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp > 0, 2 * tp / (2 * tp + wrong), 0.0)
        auc = _resampled_auc(counts, y, score)
    return (n - wrong) / n, f1, auc


def evaluate_gated(
    y_true: Sequence[int] | np.ndarray, risk: np.ndarray, threshold: float
) -> dict[str, float]:
    """:func:`evaluate` with the :func:`sampling_errors` of the gated metrics beside them:
    what :meth:`Gates.missed_within_noise` weighs a candidate by."""
    return {
        **evaluate(y_true, risk, threshold),
        **sampling_errors(y_true, risk, threshold),
    }


def _resampled_auc(counts: np.ndarray, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC-AUC of each resample (rows of ``counts``): the share of (positive, negative)
    pairs ranked right, ties half, from the weights of each tied group of scores."""
    order = np.argsort(score, kind="stable")
    ranked, weights, positive = score[order], counts[:, order], y[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives ranked under each group
    right = (pos * (below + 0.5 * neg)).sum(axis=1)
    return right / (pos.sum(axis=1) * neg.sum(axis=1))


def choose_threshold(
    y_true: Sequence[int] | np.ndarray, oof_risk: np.ndarray, grid: np.ndarray | None = None
) -> float:
    """The threshold that maximises accuracy on out-of-fold risks (ties: the one nearest 0.5).

    Out-of-fold risks come from cross-validation, so the threshold never sees a row that its
    own model was fitted on, and the held-out test set never sees this choice.
    """
    y = np.asarray(y_true, dtype=int)
    risk = np.asarray(oof_risk, dtype=float)
    candidates = np.round(np.arange(0.20, 0.801, 0.01), 2) if grid is None else grid
    scores = np.array([np.mean((risk >= t).astype(int) == y) for t in candidates])
    best = scores.max()
    tied = candidates[np.isclose(scores, best)]
    return float(tied[np.argmin(np.abs(tied - 0.5))])


@dataclass(frozen=True)
class Gates:
    """Minimum quality of any champion (the product's original spec as defaults)."""

    accuracy: float = 0.72
    roc_auc: float = 0.80
    f1: float = 0.65

    def missed(self, metrics: Mapping[str, float]) -> list[str]:
        """The gated metrics below their floor; a NaN metric misses its gate."""
        return [
            name
            for name in GATED
            if not metrics.get(name, float("nan")) >= getattr(self, name)  # NaN compares False
        ]

    def failures(self, metrics: Mapping[str, float]) -> list[str]:
        """The gates the metrics miss, each with its value and floor."""
        return [
            f"{name} {metrics.get(name, float('nan')):.3f} < {getattr(self, name):.2f}"
            for name in self.missed(metrics)
        ]

    def missed_within_noise(
        self, candidate: Mapping[str, float], champion: Mapping[str, float] | None
    ) -> str | None:
        """Why a candidate's missed gates do not stop it, or None when they do.

        They do not when the holdout cannot tell it from its floors, nor tell the champion
        better on any gated metric: every miss is within ``NOISE_Z`` standard errors
        (``<metric>_se``) of the floor, and the champion, judged on the same rows, scores
        higher on none of them by more than ``NOISE_Z`` of the candidate's errors. A drift
        retrain judged on its first few hundred labels would otherwise keep a champion that
        is worse on most counts (the demo's once did: candidate F1 0.645, champion 0.656,
        with an error of about 0.03 and the candidate ahead on accuracy and ROC-AUC). A
        model of noise is still stopped: its ROC-AUC is many errors below. The difference's
        own error is read as the candidate's: the two models are judged on the same rows, so
        their errors move together and the difference's error is at most about that.
        """
        missed = self.missed(candidate)
        if champion is None or not missed:
            return None
        noise = {n: candidate.get(n + SE_SUFFIX, float("nan")) for n in missed}
        within = all(
            getattr(self, n) - candidate[n] <= NOISE_Z * noise[n] for n in missed
        )  # NaN compares False
        no_worse = all(
            champion.get(n, float("nan")) - candidate.get(n, float("nan"))
            <= _tolerance(candidate.get(n + SE_SUFFIX, float("nan")))
            for n in GATED
        )  # a metric missing on either side compares False
        if not (within and no_worse):
            return None
        gaps = "; ".join(
            f"{n} {candidate[n]:.3f} < {getattr(self, n):.2f} (± {NOISE_Z * noise[n]:.3f})"
            for n in missed
        )
        return (
            f"misses the quality gates only within the holdout's sampling error ({gaps}) and "
            "the champion is better on no gated metric beyond it"
        )


def _tolerance(error: float, z: float = NOISE_Z) -> float:
    """A lead on a metric with this sampling error that is still noise: ``z`` errors, or
    nothing for a metric whose error is not known."""
    return z * error if math.isfinite(error) else 0.0


def gates_of(settings: PromotionSettings) -> Gates:
    """The deployment's gates (``RISKSTREAM_GATE_*``)."""
    return Gates(settings.gate_accuracy, settings.gate_roc_auc, settings.gate_f1)


@dataclass(frozen=True)
class CandidateScore:
    """Cross-validated score of one candidate family."""

    name: str
    complexity: int  # lower is simpler: the one-standard-error rule prefers it
    mean: float
    std_error: float


def select_candidate(scores: Sequence[CandidateScore], rule: str = "one_se") -> CandidateScore:
    """Pick the candidate to register.

    ``best``: the highest mean CV score. ``one_se`` (default): the simplest candidate whose
    mean is within one standard error of the best (Breiman et al. 1984; Hastie et al., ESL
    §7.10), because on a few hundred rows the differences between the best few are noise, and
    a simpler model transfers better.
    """
    if not scores:
        raise ValueError("no candidates to select from")
    best = max(scores, key=lambda s: s.mean)
    if rule == "best":
        return best
    if rule != "one_se":
        raise ValueError(f"unknown selection rule {rule!r}: use 'one_se' or 'best'")
    eligible = [s for s in scores if s.mean >= best.mean - best.std_error]
    return min(eligible, key=lambda s: (s.complexity, -s.mean))


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def decide_promotion(
    candidate: Mapping[str, float],
    champion: Mapping[str, float] | None,
    gates: Gates,
    metric: str = "roc_auc",
    margin: float = 0.005,
) -> PromotionDecision:
    """Move `champion` only if the candidate passes the gates and beats the champion by
    ``margin`` on ``metric``, both measured on the same holdout. A candidate that misses a
    gate only within noise (:meth:`Gates.missed_within_noise`) must also beat it by
    ``EXCUSED_LEAD_Z`` of its error on ``metric``. Offline (``bench.gate_noise``, 250
    examples): excused on noise alone, a model of coin flips was promoted in 1 of 60
    retrains; with a lead of 1.96 errors, 8 of 150 drift retrains' gate misses stopped them
    (2 under the rule before); with 1 error, none of either."""
    failed = gates.failures(candidate)
    excuse = gates.missed_within_noise(candidate, champion)
    if failed and excuse is None:
        return PromotionDecision(False, "fails the quality gates: " + "; ".join(failed))
    if champion is None:
        return PromotionDecision(True, "no champion yet and the gates pass")
    new, old = candidate[metric], champion[metric]
    better = old - new if metric in LOWER_IS_BETTER else new - old
    prefix = "" if excuse is None else excuse + "; "
    if excuse is not None:
        error = candidate.get(metric + SE_SUFFIX, float("nan"))
        margin = max(margin, _tolerance(error, EXCUSED_LEAD_Z))
    if better >= margin:
        return PromotionDecision(
            True, f"{prefix}{metric} {new:.4f} beats the champion's {old:.4f} by ≥ {margin:.3g}"
        )
    return PromotionDecision(
        False, f"{prefix}{metric} {new:.4f} does not beat the champion's {old:.4f} by {margin:.3g}"
    )


def promotion_route(passes: bool, evidence: str, promotion: str) -> str:
    """Where a retrained version goes: ``promote`` (it passed the holdout, evidence
    ``holdout``, promotion ``auto``), ``await_approval`` (it passed, promotion ``manual``: a
    person decides), ``challenge`` (it passed and live evidence decides, or it did not pass
    on holdout evidence: it may still be challenged by hand), or ``reject`` (it did not pass,
    and with live evidence the holdout is the first gate)."""
    if passes:
        if promotion == "manual":
            return "await_approval"
        return "challenge" if evidence == "live" else "promote"
    return "reject" if evidence == "live" else "challenge"
