"""The PatientRecord contract beyond its Avro types: which fields are required, the
physiologically possible range of each, and the first rule a record breaks. The scorer
dead-letters by these rules, producers check them before sending, and the feature pipeline
imputes exactly the fields they allow to be null."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a frame is made: the scorer never makes one
    import pandas as pd

# The Pima features as PatientRecord names them. insulin is optional in the schema and absent
# from the training data, so no model uses it.
RAW_FEATURES: tuple[str, ...] = (
    "pregnancies",
    "glucose",
    "blood_pressure",
    "skin_thickness",
    "bmi",
    "pedigree",
    "age",
)
REQUIRED = ("pregnancies", "pedigree", "age")  # never null in the schema
IMPUTABLE = ("glucose", "blood_pressure", "skin_thickness", "bmi")  # null means "not measured"

# Physiologically possible ranges (inclusive). A value outside is a data error, not a patient.
RANGES: dict[str, tuple[float, float]] = {
    "pregnancies": (0, 25),
    "glucose": (30, 500),
    "blood_pressure": (20, 200),
    "skin_thickness": (3, 100),
    "insulin": (0, 1000),
    "bmi": (10, 80),
    "pedigree": (0, 3),
    "age": (1, 120),
}


@dataclass(frozen=True)
class Violation:
    """Why a record cannot be scored; ``reason`` is the dead-letter code."""

    reason: str  # missing_field | nan | negative | out_of_range, then ":<field>"
    detail: str


def validate_record(record: Mapping[str, Any]) -> Violation | None:
    """The first rule a decoded PatientRecord breaks, or None. Names fields, never values."""
    for name in REQUIRED:
        if record.get(name) is None:
            return Violation(f"missing_field:{name}", f"{name} is required")
    for name, (low, high) in RANGES.items():
        value = record.get(name)
        if value is None:
            continue
        if isinstance(value, float) and math.isnan(value):
            return Violation(f"nan:{name}", f"{name} is NaN")
        if value < 0:
            return Violation(f"negative:{name}", f"{name} is negative")
        if not low <= value <= high:
            return Violation(f"out_of_range:{name}", f"{name} is outside the range [{low}, {high}]")
    return None


def valid_rows(frame: pd.DataFrame) -> np.ndarray:
    """``validate_record(row) is None`` for every row of a frame of record fields (NaN for
    null), vectorised: the backtest checks 100k records this way. A NaN in a required field
    is a missing field; elsewhere NaN means null and passes (a float NaN cannot be told from
    null once in a frame, and the Avro decoder never yields NaN for a null)."""
    ok = np.ones(len(frame), dtype=bool)
    for name in REQUIRED:
        ok &= frame[name].notna().to_numpy()
    for name, (low, high) in RANGES.items():
        if name not in frame:
            continue
        values = frame[name].to_numpy(dtype=float)
        present = ~np.isnan(values)
        ok &= ~present | ((values >= low) & (values <= high))
    return ok


# Values that fit another unit than riskstream's: (field, the median's range that suggests
# it, what it suggests). Glucose is in mg/dL (mmol/L x 18), skin thickness in mm (cm x 10).
UNIT_SUSPICIONS: tuple[tuple[str, tuple[float, float], str], ...] = (
    ("glucose", (1.5, 30.0), "looks like mmol/L; riskstream expects mg/dL: multiply by 18"),
    ("skin_thickness", (0.2, 6.0), "looks like cm; riskstream expects mm: multiply by 10"),
)


def unit_suspicions(frame: pd.DataFrame) -> dict[str, str]:
    """Fields whose measured values look like another unit, each with what to do: a whole
    column in mmol/L is not a data error per value, it is a file in the wrong unit."""
    import pandas as pd

    found = {}
    for name, (low, high), advice in UNIT_SUSPICIONS:
        if name not in frame:
            continue
        values = pd.to_numeric(frame[name], errors="coerce").dropna()
        if len(values) and low <= float(values.median()) <= high:
            found[name] = f"{name} (median {float(values.median()):.3g}) {advice}"
    return found
