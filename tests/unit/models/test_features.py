import numpy as np
import pandas as pd
import pytest

from riskstream.models.features import FeaturePipeline, records_to_frame
from riskstream.schemas.patient_record import RAW_FEATURES
from tests.unit.schemas.samples import SAMPLES

GOOD = SAMPLES["PatientRecord"]


def test_imputation_uses_training_medians_and_engineering_follows() -> None:
    train = pd.DataFrame({n: [1.0, 2.0, 3.0] for n in RAW_FEATURES})
    train["glucose"] = [100.0, 140.0, 200.0]
    train["age"] = [20.0, 40.0, 50.0]
    pipe = FeaturePipeline(["glucose_per_age"]).fit(train)
    frame = records_to_frame([{**GOOD, "glucose": None, "age": 35}])
    out = pipe.frame(frame)
    assert out["glucose"].iloc[0] == 140.0
    assert out["glucose_per_age"].iloc[0] == pytest.approx(4.0)
    assert pipe.feature_names == [*RAW_FEATURES, "glucose_per_age"]
    assert pipe.transform(frame).shape == (1, len(RAW_FEATURES) + 1)
    assert not np.isnan(pipe.transform(frame)).any()


def test_transform_before_fit_fails_and_unknown_features_are_refused() -> None:
    with pytest.raises(RuntimeError):
        FeaturePipeline().transform(records_to_frame([GOOD]))
    with pytest.raises(ValueError):
        FeaturePipeline(["made_up"])


def test_the_scorers_matrix_is_the_training_transform_bit_for_bit() -> None:
    """The scorer builds features with numpy alone (``matrix``); training with a frame
    (``transform``). Any missing pattern, any zero divisor: the same bits."""
    from riskstream.models import data
    from riskstream.models.features import ENGINEERED

    raw, _ = data.load(data.TRAIN_FILE)
    pipe = FeaturePipeline(sorted(ENGINEERED)).fit(raw)
    rng = np.random.default_rng(7)
    records = []
    for row in raw.sample(200, random_state=1).to_dict("records"):
        record = {k: (None if v != v or rng.random() < 0.2 else v) for k, v in row.items()}
        records.append({**GOOD, **record})
    records.append({**GOOD, "age": 0, "bmi": 0.0})  # x / 0: inf and nan, as pandas gives
    expected = pipe.transform(records_to_frame(records))
    got = pipe.matrix(records)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True)
    assert np.isnan(got).any() or np.isinf(got).any()  # the edge rows were exercised
    assert pipe.matrix([]).shape == (0, len(pipe.feature_names))
    with pytest.raises(RuntimeError):
        FeaturePipeline().matrix([GOOD])
