"""Pure policies of model selection: metrics, the decision threshold, quality gates, the
choice among candidates, and the promotion rule. No I/O; unit-tested hard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall", "brier")
LOWER_IS_BETTER = frozenset({"brier"})


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
        "roc_auc": float(roc_auc_score(y, score)) if both_classes else float("nan"),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "brier": float(np.mean((score - y) ** 2)),
        "errors": float(fp + fn),
        "n": float(len(y)),
    }


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


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

    def failures(self, metrics: Mapping[str, float]) -> list[str]:
        """Names of the gates the metrics miss; a NaN metric misses its gate."""
        failed = []
        for name in ("accuracy", "roc_auc", "f1"):
            value = metrics.get(name, float("nan"))
            if not value >= getattr(self, name):  # NaN compares False
                failed.append(f"{name} {value:.3f} < {getattr(self, name):.2f}")
        return failed


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
    ``margin`` on ``metric``, both measured on the same holdout."""
    failed = gates.failures(candidate)
    if failed:
        return PromotionDecision(False, "fails the quality gates: " + "; ".join(failed))
    if champion is None:
        return PromotionDecision(True, "no champion yet and the gates pass")
    new, old = candidate[metric], champion[metric]
    better = old - new if metric in LOWER_IS_BETTER else new - old
    if better >= margin:
        return PromotionDecision(
            True, f"{metric} {new:.4f} beats the champion's {old:.4f} by ≥ {margin}"
        )
    return PromotionDecision(
        False, f"{metric} {new:.4f} does not beat the champion's {old:.4f} by {margin}"
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
