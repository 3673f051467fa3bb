import numpy as np
import pandas as pd

from riskstream.models.features import FeaturePipeline, is_measured, measured_mask
from riskstream.models.reference import (
    bin_index,
    histogram,
    missing_shares,
    quantile_edges,
    reference_distribution,
)


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
    ref = reference_distribution(frame, frame, np.linspace(0, 1, 100))
    assert ref["n"] == 100
    assert sum(ref["features"]["a"]["counts"]) == 100
    assert len(ref["features"]["a"]["counts"]) == len(ref["features"]["a"]["edges"]) + 1
    assert sum(ref["score"]["counts"]) == 100
    assert ref["feature_medians"] == [49.5, 1.0]
    assert ref["source"] == "training"


def _pima_like(n: int = 300, missing_every: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    raw = pd.DataFrame(
        {
            "pregnancies": rng.integers(0, 10, n).astype(float),
            "glucose": rng.normal(120, 30, n),
            "blood_pressure": rng.normal(70, 12, n),
            "skin_thickness": rng.normal(29, 10, n),
            "bmi": rng.normal(32, 6, n),
            "pedigree": rng.uniform(0.1, 1.5, n),
            "age": rng.integers(21, 70, n).astype(float),
        }
    )
    raw.loc[raw.index % missing_every == 0, "skin_thickness"] = np.nan
    raw.loc[raw.index % 10 == 1, "glucose"] = np.nan
    return raw


def test_the_reference_holds_measured_values_only_and_each_missing_share() -> None:
    raw = _pima_like()
    pipe = FeaturePipeline(["glucose_per_age", "bmi_x_age"]).fit(raw)
    features = pipe.frame(raw)
    ref = reference_distribution(raw, features, np.full(len(raw), 0.3))
    measured_skin = int(raw["skin_thickness"].notna().sum())
    assert sum(ref["features"]["skin_thickness"]["counts"]) == measured_skin == 200
    # No bin holds the imputed median's spike: the largest bin is about a tenth of the rest.
    assert max(ref["features"]["skin_thickness"]["counts"]) <= 0.15 * measured_skin
    # A derived feature counts only where all its inputs were measured.
    assert sum(ref["features"]["glucose_per_age"]["counts"]) == 270
    assert sum(ref["features"]["bmi_x_age"]["counts"]) == 300
    assert ref["missing_shares"]["skin_thickness"] == 100 / 300
    assert ref["missing_shares"]["glucose"] == 30 / 300
    assert ref["missing_shares"]["bmi"] == 0.0


def test_imputing_first_would_have_put_the_missing_third_in_one_bin() -> None:
    """The defect this module fixes, kept as a check that the test above can fail."""
    raw = _pima_like()
    imputed = FeaturePipeline().fit(raw).frame(raw)
    everything = pd.DataFrame(index=raw.index)  # no NaN left: every value counts as measured
    ref = reference_distribution(everything, imputed, np.full(len(raw), 0.3))
    assert max(ref["features"]["skin_thickness"]["counts"]) >= 100


def test_a_reference_stored_before_missing_shares_reads_as_none_missing() -> None:
    assert missing_shares({"features": {}})["skin_thickness"] == 0.0
    assert missing_shares({"missing_shares": {"glucose": 0.25}})["glucose"] == 0.25


def test_measured_follows_the_inputs_of_derived_features() -> None:
    assert is_measured("glucose", ())
    assert not is_measured("glucose", ("glucose",))
    assert not is_measured("glucose_x_bmi", ("bmi",))
    assert is_measured("glucose_x_bmi", ("skin_thickness",))
    raw = pd.DataFrame({"glucose": [1.0, np.nan], "age": [30.0, 40.0], "bmi": [np.nan, 30.0]})
    mask = measured_mask(raw, ["glucose", "glucose_per_age", "bmi_x_age", "age"])
    assert mask.to_dict(orient="list") == {
        "glucose": [True, False],
        "glucose_per_age": [True, False],
        "bmi_x_age": [False, True],
        "age": [True, True],
    }


def test_the_training_reference_holds_a_joint_model_of_the_raw_measurements() -> None:
    """Fitted on the complete training rows: the kept components explain at least the chosen
    share of variance, and the errors' histogram counts each complete row once."""
    import numpy as np

    from riskstream.models import data
    from riskstream.models.features import FeaturePipeline
    from riskstream.models.multivariate import EXPLAINED
    from riskstream.models.reference import drift_reference

    raw, _ = data.load(data.TRAIN_FILE)
    features = FeaturePipeline().fit(raw).frame(raw)
    joint = drift_reference(raw, features, np.full(len(raw), 0.3))["joint"]
    names = joint["model"]["features"]
    complete = raw[names].dropna()
    assert set(names) <= set(features.columns) and len(names) >= 5
    assert sum(joint["counts"]) == len(complete)
    z = (complete.to_numpy() - joint["model"]["mean"]) / joint["model"]["scale"]
    components = np.asarray(joint["model"]["components"])
    kept = np.sum((z @ components.T) ** 2) / np.sum(z**2)
    assert EXPLAINED <= kept < 1.0
