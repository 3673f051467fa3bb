"""The one feature pipeline: validation, imputation and engineered features.

Training and scoring both call it, so they cannot diverge: the scorer's dead-letter rules are
:func:`validate_record`, and every model version stores the fitted :class:`FeaturePipeline`
(with its medians) and :data:`PIPELINE_VERSION`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PIPELINE_VERSION = "pima-features-1"

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


# Candidates for engineered features; training keeps those cross-validation shows help.
def _glucose_per_age(frame: pd.DataFrame) -> pd.Series:
    return frame["glucose"] / frame["age"]


def _bmi_x_age(frame: pd.DataFrame) -> pd.Series:
    return frame["bmi"] * frame["age"] / 100.0


def _glucose_x_bmi(frame: pd.DataFrame) -> pd.Series:
    return frame["glucose"] * frame["bmi"] / 1000.0


ENGINEERED = {
    "glucose_per_age": _glucose_per_age,
    "bmi_x_age": _bmi_x_age,
    "glucose_x_bmi": _glucose_x_bmi,
}
# The raw features each engineered one is computed from: it is measured only where they are.
ENGINEERED_INPUTS: dict[str, tuple[str, ...]] = {
    "glucose_per_age": ("glucose", "age"),
    "bmi_x_age": ("bmi", "age"),
    "glucose_x_bmi": ("glucose", "bmi"),
}


def inputs_of(feature: str) -> tuple[str, ...]:
    """The raw features a model feature is computed from (a raw feature: itself)."""
    return ENGINEERED_INPUTS.get(feature, (feature,))


def is_measured(feature: str, missing: Collection[str]) -> bool:
    """Whether a record that did not carry ``missing`` measured ``feature``: an imputed
    value, or one derived from an imputed value, describes the training median, not the
    patient, so drift statistics leave it out."""
    return not any(name in missing for name in inputs_of(feature))


def measured_mask(raw: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Per row and model feature, whether it was measured (raw inputs not NaN)."""
    present = raw.notna()
    mask = {}
    for name in features:
        inputs = [i for i in inputs_of(name) if i in present]
        mask[name] = present[inputs].all(axis=1) if inputs else pd.Series(True, index=raw.index)
    return pd.DataFrame(mask, index=raw.index)


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


class FeaturePipeline:
    """Median imputation of the imputable features, then the chosen engineered features."""

    version = PIPELINE_VERSION

    def __init__(self, engineered: Sequence[str] = ()) -> None:
        unknown = set(engineered) - set(ENGINEERED)
        if unknown:
            raise ValueError(f"unknown engineered features: {sorted(unknown)}")
        self.engineered = tuple(engineered)
        self.medians: dict[str, float] = {}

    @property
    def feature_names(self) -> list[str]:
        return [*RAW_FEATURES, *self.engineered]

    def fit(self, frame: pd.DataFrame) -> FeaturePipeline:
        self.medians = {name: float(frame[name].median()) for name in IMPUTABLE}
        return self

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Imputed raw features plus engineered ones, as named columns."""
        if not self.medians:
            raise RuntimeError("FeaturePipeline.fit must run before transform")
        out = frame.reindex(columns=list(RAW_FEATURES)).astype(float)
        out = out.fillna(value=self.medians)
        for name in self.engineered:
            out[name] = ENGINEERED[name](out)
        return out

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.frame(frame).to_numpy(dtype=np.float64)

    def describe(self) -> str:
        return f"{self.version}+{','.join(self.engineered) or 'none'}"


def records_to_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """PatientRecord dicts → a frame of the raw features (missing values as NaN)."""
    return pd.DataFrame.from_records(
        [{name: r.get(name) for name in RAW_FEATURES} for r in records],
        columns=list(RAW_FEATURES),
    ).astype(float)
