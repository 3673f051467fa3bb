import numpy as np
import pandas as pd

from models.reference import bin_index, histogram, quantile_edges, reference_distribution


def test_bins_are_open_ended_and_edges_go_right() -> None:
    edges = [1.0, 2.0]
    assert list(bin_index(edges, np.array([-5, 1.0, 1.5, 2.0, 99]))) == [0, 1, 1, 2, 2]
    assert histogram(edges, np.array([0.0, 1.0, 3.0, 3.0])) == [1, 1, 2]


def test_quantile_edges_merge_ties_and_skip_nan() -> None:
    values = np.array([1, 1, 1, 1, 2, 3, np.nan])
    edges = quantile_edges(values, bins=4)
    assert edges == sorted(set(edges))
    assert all(np.isfinite(edges))
    assert quantile_edges(np.array([np.nan])) == []


def test_reference_counts_every_training_row() -> None:
    frame = pd.DataFrame({"a": np.arange(100.0), "b": np.ones(100)})
    ref = reference_distribution(frame, np.linspace(0, 1, 100), frame)
    assert ref["n"] == 100
    assert sum(ref["features"]["a"]["counts"]) == 100
    assert len(ref["features"]["a"]["counts"]) == len(ref["features"]["a"]["edges"]) + 1
    assert sum(ref["score"]["counts"]) == 100
    assert ref["feature_medians"] == [49.5, 1.0]
