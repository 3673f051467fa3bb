"""The PatientRecord rules the scorer dead-letters by."""

import math

import numpy as np
import pandas as pd
import pytest

from riskstream.schemas.patient_record import RANGES, valid_rows, validate_record
from tests.unit.schemas.samples import SAMPLES

GOOD = SAMPLES["PatientRecord"]


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


def test_valid_rows_agrees_with_validate_record() -> None:
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
