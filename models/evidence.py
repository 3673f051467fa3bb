"""Paired tests of two models on the same labeled records: is the challenger better than the
champion, on live evidence? Pure functions, no I/O.

- ROC-AUC: DeLong, DeLong and Clarke-Pearson (1988), with the midrank algorithm of Sun and
  Xu (2014): the two AUCs' covariance from their structural components, so the test pairs
  the models on the same patients instead of treating their AUCs as independent.
- Accuracy at the serving threshold: McNemar (1947) on the discordant pairs, exact (binomial)
  below 25 of them and chi-square with continuity correction above, as is usual.

Each returns the difference (b minus a), its confidence interval, and a two-sided p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import bdtr, chdtrc, ndtr, ndtri  # not scipy.stats: 46 MiB more

EXACT_BELOW = 25  # discordant pairs: McNemar's exact test below, chi-square above


@dataclass(frozen=True)
class PairedTest:
    """b minus a on the same records, with what decides whether it is real."""

    statistic: str  # roc_auc | accuracy
    n: int
    a: float
    b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str

    def better(self, alpha: float) -> bool:
        """b significantly better than a (two-sided test at ``alpha``)."""
        return self.difference > 0 and self.p_value < alpha

    def worse(self, alpha: float) -> bool:
        return self.difference < 0 and self.p_value < alpha


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j < len(x) and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[order[i:j]] = 0.5 * (i + j - 1) + 1
        i = j
    return ranks


def _structural_components(
    positives: np.ndarray, negatives: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUC, V10 per positive, V01 per negative) by midranks (Sun and Xu 2014)."""
    m, n = len(positives), len(negatives)
    together = _midranks(np.concatenate([positives, negatives]))
    within_pos, within_neg = _midranks(positives), _midranks(negatives)
    v10 = (together[:m] - within_pos) / n
    v01 = 1.0 - (together[m:] - within_neg) / m
    auc = float(v10.mean())
    return auc, v10, v01


def delong_test(
    y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, confidence: float = 0.95
) -> PairedTest:
    """DeLong's paired test of ROC-AUC(b) - ROC-AUC(a) on the same labeled records."""
    y = np.asarray(y, dtype=int)
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise ValueError("labels and both scores must have the same length")
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m < 2 or n < 2:
        raise ValueError("DeLong's test needs at least two positives and two negatives")
    auc_a, v10_a, v01_a = _structural_components(a[pos], a[neg])
    auc_b, v10_b, v01_b = _structural_components(b[pos], b[neg])
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = auc_b - auc_a
    if variance <= 0:  # identical rankings: no difference to test
        p_value = 1.0 if difference == 0 else 0.0
        half = 0.0
    else:
        se = math.sqrt(variance)
        p_value = float(2 * ndtr(-abs(difference) / se))
        half = float(ndtri(0.5 + confidence / 2) * se)
    return PairedTest(
        "roc_auc",
        len(y),
        auc_a,
        auc_b,
        difference,
        difference - half,
        difference + half,
        p_value,
        "DeLong",
    )


def _exact_two_sided(successes: int, trials: int) -> float:
    """The exact two-sided binomial p-value at p = 1/2 (``scipy.stats.binomtest``'s, which
    for a symmetric null is twice the smaller tail, at most 1)."""
    return float(min(1.0, 2 * bdtr(min(successes, trials - successes), trials, 0.5)))


def mcnemar_test(
    y: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, confidence: float = 0.95
) -> PairedTest:
    """McNemar's paired test of accuracy(b) - accuracy(a) at the serving thresholds."""
    y = np.asarray(y, dtype=int)
    right_a = np.asarray(predicted_a, dtype=int) == y
    right_b = np.asarray(predicted_b, dtype=int) == y
    if not (len(y) == len(right_a) == len(right_b)) or len(y) == 0:
        raise ValueError("labels and both predictions must have the same, non-zero length")
    only_b = int((right_b & ~right_a).sum())  # b right where a was wrong
    only_a = int((right_a & ~right_b).sum())
    discordant = only_a + only_b
    total = len(y)
    difference = (only_b - only_a) / total
    if discordant == 0:
        p_value, method = 1.0, "McNemar (no discordant pairs)"
    elif discordant < EXACT_BELOW:
        p_value = _exact_two_sided(only_b, discordant)
        method = "McNemar exact"
    else:
        statistic = (abs(only_b - only_a) - 1) ** 2 / discordant
        p_value, method = float(chdtrc(1, statistic)), "McNemar chi-square, corrected"
    # Wald interval of a difference of paired proportions (Agresti, 2002, 10.1.2)
    variance = (only_a + only_b - (only_b - only_a) ** 2 / total) / total**2
    half = float(ndtri(0.5 + confidence / 2) * math.sqrt(max(variance, 0.0)))
    return PairedTest(
        "accuracy",
        total,
        float(right_a.mean()),
        float(right_b.mean()),
        difference,
        difference - half,
        difference + half,
        p_value,
        method,
    )
