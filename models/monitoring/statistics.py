"""Drift and performance statistics on binned windows: pure functions, no I/O.

Windows are histograms over the bin edges of the champion's reference distribution
(``riskstream.models.reference``), so every statistic here takes two count vectors of equal length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtri, kolmogorov

from riskstream.schemas.events import Severity

Counts = Sequence[int] | Sequence[float] | np.ndarray
EPSILON = 1e-4  # floor of a bin's share, so an empty bin does not make PSI infinite


def _shares(counts: Counts, floor: float = 0.0) -> np.ndarray:
    values = np.asarray(counts, dtype=float)
    total = values.sum()
    if total <= 0:
        raise ValueError("a histogram with no observations has no distribution")
    shares = values / total
    if floor:
        shares = np.maximum(shares, floor)
        shares = shares / shares.sum()
    return shares


def psi(reference: Counts, current: Counts, floor: float = EPSILON) -> float:
    """Population stability index: sum (q - p) · ln(q / p) over bins."""
    p, q = _shares(reference, floor), _shares(current, floor)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_statistic(reference: Counts, current: Counts) -> float:
    """Kolmogorov-Smirnov D from the binned CDFs: max |F_ref - F_cur| at the bin edges."""
    p, q = _shares(reference), _shares(current)
    return float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))))


def ks_pvalue(d: float, n_reference: int, n_current: int) -> float:
    """Asymptotic two-sample p-value of D (binning makes it conservative)."""
    if n_reference <= 0 or n_current <= 0:
        return 1.0
    effective = math.sqrt(n_reference * n_current / (n_reference + n_current))
    return float(min(1.0, max(0.0, kolmogorov(d * effective))))


def psi_noise(bins: int, n_reference: int, n_current: int, alpha: float) -> float:
    """The PSI that sampling alone exceeds with probability ``alpha`` when both histograms
    come from one distribution. PSI is then about (1/n_ref + 1/n_cur) times a chi-square
    with ``bins - 1`` degrees of freedom: a window of 500 complete rows against a reference
    of 500 reaches PSI 0.087 one time in a hundred, above the 0.06 that resolves an alert."""
    if bins < 2 or n_reference <= 0 or n_current <= 0:
        return math.inf
    return float(chdtri(bins - 1, alpha)) * (1 / n_reference + 1 / n_current)


def js_divergence(reference: Counts, current: Counts) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1]."""
    p, q = _shares(reference), _shares(current)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


@dataclass(frozen=True)
class DriftThresholds:
    """PSI banding (0.1 / 0.25 is the common one) plus a KS test corrected for the number of
    features, so that a clean stream stays quiet; ``resolve_ratio`` gives hysteresis."""

    psi_low: float = 0.10
    psi_medium: float = 0.18
    psi_high: float = 0.25
    psi_critical: float = 0.50
    alpha: float = 0.01
    min_sample: int = 200
    resolve_ratio: float = 0.6

    def severity(self, value: float) -> Severity | None:
        if value >= self.psi_critical:
            return Severity.CRITICAL
        if value >= self.psi_high:
            return Severity.HIGH
        if value >= self.psi_medium:
            return Severity.MEDIUM
        if value >= self.psi_low:
            return Severity.LOW
        return None


@dataclass(frozen=True)
class FeatureVerdict:
    feature: str
    psi: float
    ks: float
    ks_pvalue: float
    js: float
    drifting: bool
    severity: Severity | None


def drift_verdicts(
    reference: Mapping[str, Counts],
    current: Mapping[str, Counts],
    thresholds: DriftThresholds,
    was_drifting: frozenset[str] = frozenset(),
) -> list[FeatureVerdict] | None:
    """Per-feature verdicts for one closed window, or None when no feature reaches the
    minimum sample size. A feature measured in fewer records than ``min_sample`` (say a lab
    value most clinics stopped sending) gets no verdict, and keeps its state, while the
    others are judged.

    A feature enters drift when its PSI reaches ``psi_low`` *and* the KS test rejects at
    ``alpha / number of features judged`` (Bonferroni). It stays in drift until its PSI falls
    below ``resolve_ratio x psi_low`` (hysteresis), so one incident is one alert and one
    resolution, or within what sampling noise alone gives at these sample sizes
    (:func:`psi_noise` at ``alpha``): a small window of a drift that ended would otherwise
    keep its alert firing by chance (a demo run's joint-structure alert never resolved).
    """
    sizes = {name: int(np.sum(current[name])) for name in current}
    judged = [
        name
        for name in sorted(current)
        if sizes[name] >= thresholds.min_sample and np.sum(reference[name]) > 0
    ]
    if not judged:
        return None
    corrected = thresholds.alpha / len(judged)
    verdicts = []
    for name in judged:
        ref, cur = reference[name], current[name]
        value = psi(ref, cur)
        d = ks_statistic(ref, cur)
        n_ref, n_cur = int(np.sum(ref)), int(np.sum(cur))
        p = ks_pvalue(d, n_ref, n_cur)
        if name in was_drifting:
            noise = psi_noise(len(ref), n_ref, n_cur, thresholds.alpha)
            drifting = value >= max(thresholds.resolve_ratio * thresholds.psi_low, noise)
        else:
            drifting = value >= thresholds.psi_low and p < corrected
        verdicts.append(
            FeatureVerdict(
                name,
                value,
                d,
                p,
                js_divergence(ref, cur),
                drifting,
                thresholds.severity(value) if drifting else None,
            )
        )
    return verdicts


def binned_roc_auc(positives: Counts, negatives: Counts) -> float:
    """ROC-AUC from score histograms of positives and negatives over the same bins (ties
    within a bin count one half), as the monitor keeps them in Redis."""
    pos = np.asarray(positives, dtype=float)
    neg = np.asarray(negatives, dtype=float)
    if pos.sum() == 0 or neg.sum() == 0:
        return float("nan")
    negatives_below = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    wins = np.sum(pos * (negatives_below + 0.5 * neg))
    return float(wins / (pos.sum() * neg.sum()))
