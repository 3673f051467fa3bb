"""Performance estimated without labels: confidence-based performance estimation (CBPE, as
NannyML defines it) over window counts. No I/O.

A calibrated score p says the record is positive with probability p. A window's expected
confusion matrix is then the sum over its records of p (positive) and 1 - p (negative) on the
side of the threshold each record was decided: expected accuracy, precision, recall and F1
follow, and ROC-AUC is the binned AUC of the scores with each record weighted p as a positive
and 1 - p as a negative. The estimate holds while P(y | score) does not change (a covariate
shift); under concept drift it cannot, and the monitors measure by how much it misses.

Which p? A version's scores are calibrated on its training data's out-of-fold predictions;
a deployment's population may differ from the training data even when nothing drifts (the
bootstrap champion learned on Pima, then serves a clinic). So, as NannyML calibrates on a
reference period, each version's first ``estimate_reference_size`` labeled examples on the
stream form its reference: the observed positive rate per score bin, made monotone by
isotonic regression, is the p every later window is estimated with. Until a version's
reference is complete its served scores are taken as they are.

Windows keep integer counts, as every window does: records per (decided label, score bin)
(``c:<decided>:<bin>``) and, in the reference, labeled examples per (label, score bin)
(``r:<label>:<bin>``). The probabilities are applied when a window closes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np
from scipy.optimize import isotonic_regression

from riskstream.core.ids import now_ms
from riskstream.models.monitoring.statistics import binned_roc_auc
from riskstream.schemas.events import PerformanceWindow

ESTIMATE_BINS = 100
ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")
CENTRES = (np.arange(ESTIMATE_BINS) + 0.5) / ESTIMATE_BINS


def estimate_bin(risk: float) -> int:
    return min(ESTIMATE_BINS - 1, max(0, int(risk * ESTIMATE_BINS)))


def estimate_fields(scored: Iterable[tuple[float, int]]) -> Counter[str]:
    """The hash increments of some (served risk, decided label) pairs."""
    return Counter(f"c:{int(bool(decided))}:{estimate_bin(risk)}" for risk, decided in scored)


def reference_fields(labeled: Iterable[tuple[float, int]]) -> Counter[str]:
    """The hash increments of some (served risk, observed label) pairs of a reference."""
    return Counter(f"r:{int(bool(label))}:{estimate_bin(risk)}" for risk, label in labeled)


def _bins(counts: Mapping[str, int], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    zero = [counts.get(f"{prefix}:0:{b}", 0) for b in range(ESTIMATE_BINS)]
    one = [counts.get(f"{prefix}:1:{b}", 0) for b in range(ESTIMATE_BINS)]
    return np.asarray(zero, dtype=float), np.asarray(one, dtype=float)


def score_bins(counts: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """A window's records per score bin: (decided negative, decided positive)."""
    return _bins(counts, "c")


def reference_probability(counts: Mapping[str, int], minimum: int) -> np.ndarray | None:
    """P(positive) per score bin from a reference's counts: the observed rates, isotonic in
    the score (bins without examples interpolated); None below ``minimum`` examples."""
    negatives, positives = _bins(counts, "r")
    total = negatives + positives
    if total.sum() < max(minimum, 1) or positives.sum() == 0 or negatives.sum() == 0:
        return None
    seen = total > 0
    # scipy's isotonic regression, interpolated and clipped at the ends as sklearn's
    # IsotonicRegression(out_of_bounds="clip") predicts: the same values, one heavy import
    # fewer in this pure module (a monitor still imports sklearn to unpickle the champion)
    fitted = isotonic_regression(positives[seen] / total[seen], weights=total[seen]).x
    return np.asarray(np.interp(CENTRES, CENTRES[seen], fitted), dtype=float)


def estimated_metrics(
    counts: Mapping[str, int], probability: np.ndarray | None = None
) -> dict[str, float]:
    """Expected accuracy, precision, recall, F1 and ROC-AUC of a window whose records are
    positive with ``probability`` per score bin (the bin's centre when None), with the
    expected class counts the estimate's standard errors need (NaN where undefined)."""
    undecided, decided = score_bins(counts)
    p = CENTRES if probability is None else probability
    n = float(undecided.sum() + decided.sum())
    tp, fp = float(decided @ p), float(decided @ (1 - p))
    fn, tn = float(undecided @ p), float(undecided @ (1 - p))
    nan = float("nan")
    everyone = undecided + decided
    return {
        "n": n,
        "positives": tp + fn,
        "negatives": tn + fp,
        "f1_support": tp + (fp + fn) / 2,
        "accuracy": (tp + tn) / n if n else nan,
        "precision": tp / (tp + fp) if tp + fp > 0 else nan,
        "recall": tp / (tp + fn) if tp + fn > 0 else nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else nan,
        "roc_auc": binned_roc_auc(everyone * p, everyone * (1 - p)) if n else nan,
    }


def estimate_errors(
    estimated: Mapping[str, float], realized: Mapping[str, float]
) -> dict[str, float]:
    """Estimated minus realized, per metric both define (NaN-free)."""
    errors = {}
    for name in ESTIMATED:
        e, r = estimated.get(name, float("nan")), realized.get(name, float("nan"))
        if e == e and r == r:
            errors[name] = e - r
    return errors


INTERVAL_COUNTS = ("positives", "negatives", "f1_support", "brier_moment2")


def window_record(
    model_name: str,
    version: str,
    basis: str,
    window: tuple[int, int],
    estimated: Mapping[str, float],
    realized: Mapping[str, float] | None = None,
    segment: str | None = None,
    variant: str = "served",
    intervals: Mapping[str, tuple[float, float]] | None = None,
) -> PerformanceWindow:
    """The ``performance-windows`` record of one closed window (NaN metrics left out), with
    the 95% interval of each estimate given in ``intervals``."""
    realized = realized or {}
    defined = _defined(estimated, ESTIMATED)
    intervals = {k: v for k, v in (intervals or {}).items() if k in defined}
    n = realized.get("n", estimated.get("n", 0.0))
    return PerformanceWindow(
        window_id=str(uuid.uuid4()),
        event_time=now_ms(),
        model_name=model_name,
        model_version=version,
        basis=basis,
        window_start=window[0],
        window_end=window[1],
        sample_size=int(n),
        # the counts behind the metrics: what their confidence intervals need
        realized=_defined(realized, (*ESTIMATED, "brier", *INTERVAL_COUNTS)),
        estimated=defined,
        estimate_error=estimate_errors(estimated, realized) if realized else {},
        segment=segment,
        variant=variant,
        estimated_low={k: low for k, (low, _) in intervals.items()},
        estimated_high={k: high for k, (_, high) in intervals.items()},
    )


def _defined(metrics: Mapping[str, float], names: Iterable[str]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in names if k in metrics and metrics[k] == metrics[k]}
