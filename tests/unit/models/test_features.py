import math

import numpy as np
import pandas as pd
import pytest

from models.features import RANGES, RAW_FEATURES, FeaturePipeline, records_to_frame, validate_record

GOOD = dict(
    pregnancies=2,
    glucose=120.0,
    blood_pressure=70.0,
    skin_thickness=None,
    insulin=None,
    bmi=30.0,
    pedigree=0.4,
    age=40,
)


def test_a_valid_record_passes() -> None:
    assert validate_record(GOOD) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"age": None}, "missing_field:age"),
        ({"pedigree": None}, "missing_field:pedigree"),
        ({"glucose": math.nan}, "nan:glucose"),
        ({"age": -4}, "negative:age"),
        ({"glucose": 900.0}, "out_of_range:glucose"),
        ({"bmi": 5.0}, "out_of_range:bmi"),
        ({"insulin": 5000.0}, "out_of_range:insulin"),
    ],
)
def test_each_rule_names_its_reason(change: dict, reason: str) -> None:
    violation = validate_record({**GOOD, **change})
    assert violation is not None and violation.reason == reason


def test_violation_details_never_carry_values() -> None:
    violation = validate_record({**GOOD, "glucose": 987.0})
    assert violation is not None and "987" not in violation.detail


def test_range_bounds_are_inclusive() -> None:
    low, high = RANGES["glucose"]
    assert validate_record({**GOOD, "glucose": low}) is None
    assert validate_record({**GOOD, "glucose": high}) is None


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


def test_valid_rows_agrees_with_validate_record() -> None:
    import numpy as np
    import pandas as pd

    from models.features import RANGES, valid_rows, validate_record

    rng = np.random.default_rng(0)
    fields = list(RANGES)
    records = []
    for _ in range(3000):
        record: dict[str, float | None] = {}
        for name, (low, high) in RANGES.items():
            draw = rng.random()
            if draw < 0.1:
                record[name] = None
            elif draw < 0.2:
                record[name] = float(rng.choice([low, high, low - 1, high + 1, -0.5]))
            else:
                record[name] = float(rng.uniform(low, high))
        records.append(record)
    frame = pd.DataFrame(records, columns=fields, dtype=float)
    expected = np.array([validate_record(r) is None for r in records])
    assert 100 < expected.sum() < 2900  # both outcomes well represented
    assert (valid_rows(frame) == expected).all()
