"""Reference distributions stored with every model version.

The drift monitor bins each window with exactly these edges and compares the counts. Bins are
open-ended: ``edges`` are the interior cut points, so a value below the first or above the last
still has a bin, and ``bin_index`` is one ``searchsorted``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SCORE_EDGES = [round(0.1 * i, 1) for i in range(1, 10)]


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


def reference_distribution(
    features: pd.DataFrame, scores: np.ndarray, raw_probe: pd.DataFrame, bins: int = 10
) -> dict[str, Any]:
    """Per-feature and score histograms of the training data, plus what the bundle needs to
    explain (medians) and to check itself when loaded (probe rows)."""
    feature_hist = {}
    for name in features.columns:
        values = features[name].to_numpy(dtype=float)
        edges = quantile_edges(values, bins)
        feature_hist[name] = {"edges": edges, "counts": histogram(edges, values)}
    return {
        "n": len(features),
        "features": feature_hist,
        "score": {"edges": SCORE_EDGES, "counts": histogram(SCORE_EDGES, np.asarray(scores))},
        "feature_medians": [float(features[c].median()) for c in features.columns],
        "probe_rows": raw_probe.head(5).to_dict(orient="list"),
    }
