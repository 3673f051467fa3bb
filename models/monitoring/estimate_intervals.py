"""95% intervals on CBPE estimates: how far the realized metric may fall from the estimate
by the luck of the labels alone. No I/O.

CBPE says each record is positive with its calibrated probability p. The labels a window will
get are then independent coin flips, and its realized accuracy is a Poisson-binomial count
over n (the interval published for average-confidence estimates); precision, recall, F1 and
ROC-AUC have no closed form. So the window's labels are drawn ``draws`` times, per score bin
(a binomial per bin and decided side, from the same counts the estimate uses), each metric is
computed on every draw as the performance monitor will compute it from the labels (ROC-AUC
over its coarser score bins), and the interval is the central 95% of the draws. The seed is
fixed: every monitor, and a restarted one, publishes the same interval for the same counts.

The p themselves are estimated: from a version's reference period of labeled examples
(``estimation.reference_probability``), whose per-bin rates carry their own sampling error,
the same in every window. So each draw takes its p from one of ``REFERENCE_DRAWS``
bootstrap resamples of the reference (``reference_spread``), each fitted as the reference is.
Without that, on the benchmark's clean and population-shift streams the interval held the
realized ROC-AUC in 83% and 88% of windows, not 95%.

The interval holds what the labels' and the reference's randomness explain and assumes
P(y | score) is the reference's (a covariate shift in the strict sense). Under concept
drift p is wrong and so is the interval; the estimate's error on labeled windows measures by
how much.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from riskstream.models.monitoring.estimation import (
    CENTRES,
    ESTIMATE_BINS,
    ESTIMATED,
    reference_probability,
    score_bins,
)
from riskstream.models.monitoring.performance_stats import SCORE_BINS

DRAWS = 400
REFERENCE_DRAWS = 40
LEVEL = 0.95


def reference_spread(
    counts: Mapping[str, int], minimum: int, draws: int = REFERENCE_DRAWS, seed: int = 0
) -> np.ndarray | None:
    """``draws`` rows of P(positive) per score bin, each fitted (as
    ``reference_probability`` fits the reference) to a bootstrap resample of the reference's
    examples; None while the reference itself gives no probability."""
    if reference_probability(counts, minimum) is None:
        return None
    keys = [f"r:{label}:{b}" for label in (0, 1) for b in range(ESTIMATE_BINS)]
    observed = np.asarray([counts.get(k, 0) for k in keys], dtype=float)
    total = int(observed.sum())
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    while len(rows) < draws:
        resampled = dict(zip(keys, rng.multinomial(total, observed / total).tolist(), strict=True))
        fitted = reference_probability(resampled, 1)
        if fitted is not None:  # a resample with one class only: draw again
            rows.append(fitted)
    return np.vstack(rows)


def estimate_intervals(
    counts: Mapping[str, int],
    probability: np.ndarray | None = None,
    *,
    spread: np.ndarray | None = None,
    draws: int = DRAWS,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Per estimated metric, the central ``level`` range of its realized value over
    ``draws`` label draws from ``probability`` per score bin (the bin centre when None), or,
    given the reference's ``spread``, from its rows in turn. A metric undefined in more than
    half the draws (one class only) has no interval."""
    undecided, decided = (side.astype(np.int64) for side in score_bins(counts))
    if undecided.sum() + decided.sum() == 0:
        return {}
    if spread is not None:
        p = spread[np.arange(draws) % len(spread)]
    else:
        p = np.tile(CENTRES if probability is None else probability, (draws, 1))
    p = np.clip(p, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    hit = rng.binomial(decided, p)  # per draw and bin: positives the model called positive
    missed = rng.binomial(undecided, p)  # and positives it called negative
    tp, fn = hit.sum(axis=1).astype(float), missed.sum(axis=1).astype(float)
    fp, tn = decided.sum() - tp, undecided.sum() - fn
    positives = hit + missed
    negatives = (undecided + decided) - positives
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "accuracy": (tp + tn) / (tp + tn + fp + fn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "roc_auc": _binned_auc_rows(_coarse(positives), _coarse(negatives)),
        }
    tail = (1 - level) / 2 * 100
    intervals = {}
    for name in ESTIMATED:
        drawn = values[name][np.isfinite(values[name])]
        if drawn.size * 2 > draws:
            low, high = np.percentile(drawn, [tail, 100 - tail])
            intervals[name] = (float(low), float(high))
    return intervals


def _coarse(histograms: np.ndarray) -> np.ndarray:
    """Rows of estimate-bin counts summed into the performance monitor's score bins."""
    return histograms.reshape(len(histograms), SCORE_BINS, ESTIMATE_BINS // SCORE_BINS).sum(2)


def _binned_auc_rows(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """``statistics.binned_roc_auc`` of each row (one draw's score histograms) at once."""
    pos, neg = positives.astype(float), negatives.astype(float)
    below = np.cumsum(neg, axis=1) - neg
    wins = np.sum(pos * (below + 0.5 * neg), axis=1)
    result: np.ndarray = wins / (pos.sum(axis=1) * neg.sum(axis=1))
    return result
