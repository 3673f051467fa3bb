"""Reference distributions stored with every model version.

The drift monitor bins each window with exactly these edges and compares the counts. Bins are
open-ended: ``edges`` are the interior cut points, so a value below the first or above the last
still has a bin, and ``bin_index`` is one ``searchsorted``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired

import numpy as np
from typing_extensions import TypedDict

if TYPE_CHECKING:  # frames are made in training; the monitors only read a reference
    import pandas as pd

from riskstream.models.features import measured_mask
from riskstream.models.multivariate import JointModel, fit_joint_model, reconstruction_errors
from riskstream.schemas.patient_record import IMPUTABLE, RAW_FEATURES

SCORE_EDGES = [round(0.1 * i, 1) for i in range(1, 10)]


class Histogram(TypedDict):
    """Counts per bin: ``edges`` are the interior cut points, so ``len(counts) == len(edges)
    + 1``."""

    edges: list[float]
    counts: list[int]


class JointHistogram(Histogram):
    """The reference's PCA reconstruction errors (``riskstream.models.multivariate``): the
    fitted projection, and the errors' histogram over their quantile edges."""

    model: JointModel


class DriftReference(TypedDict):
    """What a model version's drift is measured against, stored with the version (in its
    bundle and as ``reference.json``): a plain dict at run time, so every stored version
    still loads; this type says which keys it has."""

    n: int
    features: dict[str, Histogram]
    score: Histogram
    missing_shares: NotRequired[dict[str, float]]  # absent in versions stored before them
    joint: NotRequired[JointHistogram]  # absent in versions stored before it
    source: NotRequired[str]  # "training" or "recent"
    feature_medians: NotRequired[list[float]]
    probe_rows: NotRequired[dict[str, list[Any]]]
    progressive: NotRequired[dict[str, Any]]  # the online learner's progressive score


def quantile_edges(values: np.ndarray, bins: int = 10) -> list[float]:
    """Interior cut points at the quantiles of the training values (ties merged)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    cuts = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(c) for c in np.unique(cuts)]


def bin_index(edges: list[float] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: 0 … len(edges); a value equal to an edge goes right."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="right")


def histogram(edges: list[float], values: np.ndarray) -> list[int]:
    counts = np.bincount(bin_index(edges, values), minlength=len(edges) + 1)
    return [int(c) for c in counts]


def drift_reference(
    raw: pd.DataFrame, features: pd.DataFrame, scores: np.ndarray, bins: int = 10
) -> DriftReference:
    """What the drift monitor compares windows with: per-feature histograms of *measured*
    values only (an imputed median, or a feature derived from one, is left out: a training
    set with a third of a feature missing would otherwise put a third of its reference in
    the median's bin, which no stream of real measurements fills), the score histogram, and
    each imputable feature's missing share, which the data-quality check compares with."""
    measured = measured_mask(raw, list(features.columns))
    feature_hist: dict[str, Histogram] = {}
    for name in features.columns:
        values = features[name].to_numpy(dtype=float)[measured[name].to_numpy()]
        edges = quantile_edges(values, bins)
        feature_hist[name] = {"edges": edges, "counts": histogram(edges, values)}
    shares = {
        name: float(raw[name].isna().mean()) if name in raw and len(raw) else 0.0
        for name in IMPUTABLE
    }
    reference: DriftReference = {
        "n": len(features),
        "features": feature_hist,
        "score": {"edges": SCORE_EDGES, "counts": histogram(SCORE_EDGES, np.asarray(scores))},
        "missing_shares": shares,
    }
    joint = joint_reference(raw, list(features.columns), bins)
    if joint is not None:
        reference["joint"] = joint
    return reference


def joint_reference(
    raw: pd.DataFrame, model_features: list[str], bins: int
) -> JointHistogram | None:
    """The multivariate reference over the raw measurements the model uses: a PCA fitted on
    the complete rows, and their reconstruction errors' histogram; None when too few rows
    are complete."""
    names = [n for n in RAW_FEATURES if n in model_features and n in raw]
    rows = raw[names].to_numpy(dtype=float)
    model = fit_joint_model(rows, names)
    if model is None:
        return None
    errors = reconstruction_errors(model, rows)
    errors = errors[np.isfinite(errors)]
    edges = quantile_edges(errors, bins)
    return {"edges": edges, "counts": histogram(edges, errors), "model": model}


def reference_distribution(
    raw: pd.DataFrame,
    features: pd.DataFrame,
    scores: np.ndarray,
    bins: int = 10,
    source: str = "training",
) -> DriftReference:
    """The drift reference (``drift_reference``) of the training data, plus what the bundle
    needs to explain (medians) and to check itself when loaded (probe rows). ``source``
    says which data the drift part describes: ``training`` or ``recent`` (see the trainer)."""
    reference = drift_reference(raw, features, scores, bins)
    reference["source"] = source
    reference["feature_medians"] = [float(features[c].median()) for c in features.columns]
    reference["probe_rows"] = raw.head(5).to_dict(orient="list")
    return reference


def missing_shares(reference: DriftReference) -> dict[str, float]:
    """A reference's missing share per imputable feature; 0 for one stored before they were
    (its histograms then still hold imputed values)."""
    stored = reference.get("missing_shares") or {}
    return {name: float(stored.get(name, 0.0)) for name in IMPUTABLE}
