"""How far each record lies from the reference's joint structure: PCA reconstruction error.

A change in how features move together (BMI no longer rising with skin thickness) leaves
every marginal, and so every per-feature test, as it was. Projected onto the principal
components of the standardized reference and back, a record that follows the reference's
correlations is rebuilt closely; one that breaks them is not. The drift monitor bins each
record's error over the reference's quantile edges, like any feature, so windows stay
integer counts in Redis, merge across workers and survive restarts, and the same PSI + KS
verdict judges them (``riskstream.models.monitoring.windows``).

Chosen over a domain classifier (NannyML offers both): the classifier needs the window's raw
rows and a cross-validated fit per window (tens of milliseconds, and rows no Redis hash
holds), while the reconstruction error is one small matrix product per record (7 x 3 here)
and is counted as it arrives. Only records with every input measured count, on both sides:
an imputed median sits on the reference's centre and would lower the error of every record
that lacks a lab value, so a change in missingness would read as a change in structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from typing_extensions import TypedDict

EXPLAINED = 0.65  # share of the reference's variance the kept components explain (NannyML's)
MIN_ROWS = 50  # fewer complete reference rows than this: no joint reference


class JointModel(TypedDict):
    """The fitted projection, stored in the version's reference as plain lists."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    components: list[list[float]]  # k x len(features), orthonormal rows


def fit_joint_model(
    rows: np.ndarray, features: Sequence[str], explained: float = EXPLAINED
) -> JointModel | None:
    """Principal components of the standardized complete ``rows`` (one column per feature)
    that explain ``explained`` of their variance; None with too few rows or features, or a
    constant feature."""
    complete = rows[~np.isnan(rows).any(axis=1)] if rows.size else rows
    if len(features) < 2 or len(complete) < MIN_ROWS:
        return None
    mean, scale = complete.mean(axis=0), complete.std(axis=0)
    if np.any(scale <= 0):
        return None
    _, singular, vt = np.linalg.svd((complete - mean) / scale, full_matrices=False)
    shares = np.cumsum(singular**2) / np.sum(singular**2)
    kept = min(int(np.searchsorted(shares, explained)) + 1, len(features) - 1)
    return {
        "features": list(features),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "components": [[float(v) for v in row] for row in vt[:kept]],
    }


def reconstruction_errors(model: JointModel, rows: np.ndarray) -> np.ndarray:
    """Euclidean distance, in standard units, between each row (columns in
    ``model["features"]`` order) and its projection onto the kept components; NaN for a row
    with any input missing."""
    z = (rows - np.asarray(model["mean"])) / np.asarray(model["scale"])
    components = np.asarray(model["components"])
    residual = z - (z @ components.T) @ components
    errors: np.ndarray = np.sqrt(np.sum(residual**2, axis=1))
    return errors
