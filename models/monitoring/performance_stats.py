"""Model performance over labeled examples: window counts, metrics, degradation verdicts and a
concept-drift detector on the error stream. No I/O.

A window of labeled examples is kept as integer counts, so several workers can add into one
Redis hash: the confusion matrix, the summed squared error and its summed squares (in
millionths) and score
histograms of positives and negatives over ``SCORE_BINS`` equal bins, from which ROC-AUC is
computed as ``statistics.binned_roc_auc`` does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scipy.special import ndtri  # norm.ppf; scipy.stats costs a worker 46 MiB more

from riskstream.models.monitoring.quality_stats import Condition
from riskstream.models.monitoring.statistics import binned_roc_auc
from riskstream.schemas.events import AlertKind, AlertStatus, Severity

SCORE_BINS = 20
BRIER_SCALE = 1_000_000
ALERTED = ("accuracy", "f1", "roc_auc")  # the metrics the champion gates hold
CONDITION_PREFIX = {
    AlertKind.PERFORMANCE: "performance",
    AlertKind.PERFORMANCE_ESTIMATE: "estimate",
}


@dataclass(frozen=True)
class Outcome:
    """One labeled example as the performance monitor needs it."""

    label: int
    risk: float
    predicted: int


def score_bin(risk: float) -> int:
    return min(SCORE_BINS - 1, max(0, int(risk * SCORE_BINS)))


def performance_fields(outcomes: Iterable[Outcome]) -> Counter[str]:
    """The Redis hash increments of some labeled examples."""
    fields: Counter[str] = Counter()
    for o in outcomes:
        fields["n"] += 1
        fields[("t" if o.predicted == o.label else "f") + ("p" if o.predicted else "n")] += 1
        squared = (o.risk - o.label) ** 2
        fields["brier_u"] += round(squared * BRIER_SCALE)
        fields["brier_q"] += round(squared**2 * BRIER_SCALE)  # for the Brier score's error
        fields[f"{'p' if o.label else 'q'}:{score_bin(o.risk)}"] += 1
    return fields


def window_metrics(counts: Mapping[str, int]) -> dict[str, float]:
    """Accuracy, precision, recall, F1, binned ROC-AUC and Brier score of one window (NaN where
    a metric is undefined, e.g. ROC-AUC with one class)."""
    n = counts.get("n", 0)
    tp, fp, tn, fn = (counts.get(k, 0) for k in ("tp", "fp", "tn", "fn"))
    nan = float("nan")
    precision = tp / (tp + fp) if tp + fp else nan
    recall = tp / (tp + fn) if tp + fn else nan
    f1 = nan if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    positives = [counts.get(f"p:{b}", 0) for b in range(SCORE_BINS)]
    negatives = [counts.get(f"q:{b}", 0) for b in range(SCORE_BINS)]
    return {
        "n": float(n),
        "positives": float(tp + fn),
        "negatives": float(tn + fp),
        "f1_support": tp + (fp + fn) / 2,  # the count F1's sampling error scales with
        "accuracy": (tp + tn) / n if n else nan,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": binned_roc_auc(positives, negatives),
        "brier": counts.get("brier_u", 0) / BRIER_SCALE / n if n else nan,
        # the mean of the squared errors' squares: the Brier score's sampling error needs it
        "brier_moment2": counts["brier_q"] / BRIER_SCALE / n if n and "brier_q" in counts else nan,
    }


def validation_metric(metrics: Mapping[str, float], name: str) -> float | None:
    """A version's held-out value of ``name``: the retrain holdout, else the bootstrap test
    set, else cross-validation."""
    for prefix in ("holdout_", "test_", "cv_"):
        value = metrics.get(prefix + name)
        if value is not None:
            return float(value)
    return None


@dataclass(frozen=True)
class PerformanceThresholds:
    gates: Mapping[str, float]  # metric → floor (the champion gates)
    max_relative_drop: float = 0.10
    min_sample: int = 100
    # A window's metric is an estimate: it must sit below its floor by z standard errors.
    # 2.71 is a one-sided 1% test with Bonferroni over the three alerted metrics.
    z: float = 2.71


def corrected_z(segments: int, alpha: float = 0.01, metrics: int = len(ALERTED)) -> float:
    """The one-sided z of ``alpha`` with Bonferroni over the metrics and ``segments`` scopes
    judged in one window (2.71 for one scope)."""
    return float(ndtri(1 - alpha / (metrics * max(segments, 1))))


def standard_error(name: str, value: float, metrics: Mapping[str, float]) -> float:
    """Sampling standard error of a window's metric (infinite when it cannot be told): binomial
    for accuracy; for F1 binomial over its support tp + (fp + fn) / 2; Hanley and McNeil
    (1982) for ROC-AUC; for Brier, the squared errors' standard deviation over root n."""
    n, pos, neg = (
        metrics.get("n", 0.0),
        metrics.get("positives", 0.0),
        metrics.get("negatives", 0.0),
    )
    if name == "accuracy" and n > 0:
        return math.sqrt(value * (1 - value) / n)
    if name == "f1":
        support = metrics.get("f1_support", 0.0)
        return math.sqrt(value * (1 - value) / support) if support > 0 else math.inf
    moment2 = metrics.get("brier_moment2", math.nan)
    if name == "brier" and n > 1 and not math.isnan(moment2):
        variance = max(moment2 - value**2, 0.0)
        return math.sqrt(variance / n)
    if name == "roc_auc" and pos > 0 and neg > 0:
        q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
        variance = (
            value * (1 - value) + (pos - 1) * (q1 - value**2) + (neg - 1) * (q2 - value**2)
        ) / (pos * neg)
        return math.sqrt(max(variance, 0.0))
    return math.inf


def performance_conditions(
    metrics: Mapping[str, float],
    validation: Mapping[str, float],
    thresholds: PerformanceThresholds,
    was: frozenset[str] = frozenset(),
    kind: AlertKind = AlertKind.PERFORMANCE,
    intervals: Mapping[str, tuple[float, float]] | None = None,
) -> list[Condition]:
    """One condition per gated metric. It breaches when the window's value is significantly
    (``z`` standard errors) below the gate, or below ``1 - max_relative_drop`` times the
    version's validation value; once breached it resolves only when the value is back within
    half that drop (hysteresis). Empty below ``min_sample`` labeled examples. The same rules
    judge estimated metrics (``kind`` PERFORMANCE_ESTIMATE, conditions ``estimate:<metric>``),
    where a metric's published 95% interval (``intervals``) must also lie wholly below the
    floor: an estimate whose interval reaches the floor may be the labels' chance."""
    if metrics.get("n", 0) < thresholds.min_sample:
        return []
    drop = thresholds.max_relative_drop
    conditions = []
    for name in ALERTED:
        value = metrics.get(name, float("nan"))
        if value != value:  # NaN: undefined in this window (one class only)
            continue
        gate = thresholds.gates.get(name, 0.0)
        reference = validation_metric(validation, name)
        floor = max(gate, (1 - drop) * reference) if reference is not None else gate
        key = f"{CONDITION_PREFIX[kind]}:{name}"
        if key in was:
            recovered = max(gate, (1 - drop / 2) * reference) if reference is not None else gate
            breached = value < recovered
        else:
            breached = value + thresholds.z * standard_error(name, value, metrics) < floor
            if intervals is not None and name in intervals:
                breached = breached and intervals[name][1] < floor
        severity = None
        if breached:
            deep = reference is not None and value < (1 - 2 * drop) * reference
            severity = Severity.CRITICAL if deep or value < gate - 0.1 else Severity.HIGH
        conditions.append(Condition(key, kind, name, value, floor, breached, severity))
    return conditions


@dataclass(frozen=True)
class ErrorRateShift:
    status: AlertStatus  # FIRING (the error rate rose) or RESOLVED (it fell back)
    before: float
    after: float
    seen: int  # examples the detector had seen when it fired


class ErrorRateDetector:
    """river's ADWIN on the 0/1 error stream of one model version. ADWIN keeps a window whose
    halves have the same mean (to confidence ``delta``) and cuts it when they differ; a cut
    with a higher recent error rate is concept drift, a cut back down ends it."""

    def __init__(self, delta: float = 0.002) -> None:
        # imported here: river's drift package imports its datasets, and with them
        # scikit-learn and SQLAlchemy, about 50 MiB the drift monitor (which imports this
        # module for its estimates) never uses
        from river import drift

        self.adwin = drift.ADWIN(delta=delta)
        self.firing = False
        self.seen = 0

    def update(self, errors: Iterable[int]) -> list[ErrorRateShift]:
        shifts = []
        for error in errors:
            before = self.adwin.estimation
            self.adwin.update(error)
            self.seen += 1
            if not self.adwin.drift_detected:
                continue
            after = self.adwin.estimation
            if after > before and not self.firing:
                self.firing = True
                shifts.append(ErrorRateShift(AlertStatus.FIRING, before, after, self.seen))
            elif after < before and self.firing:
                self.firing = False
                shifts.append(ErrorRateShift(AlertStatus.RESOLVED, before, after, self.seen))
        return shifts
