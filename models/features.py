"""The one feature pipeline: imputation and engineered features.

Training and scoring both call it, so they cannot diverge: the fields it may impute are those
the PatientRecord contract (:mod:`riskstream.schemas.patient_record`) allows to be null, and
every model version stores the fitted :class:`FeaturePipeline`
(with its medians) and :data:`PIPELINE_VERSION`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # training makes frames; the scorer's numpy path must not load pandas
    import pandas as pd

from riskstream.schemas.patient_record import IMPUTABLE, RAW_FEATURES

PIPELINE_VERSION = "pima-features-1"


# Candidates for engineered features; training keeps those cross-validation shows help. Each
# takes named columns: a frame's (training) or a matrix's (scoring, FeaturePipeline.matrix).
def _glucose_per_age(columns: Any) -> Any:
    return columns["glucose"] / columns["age"]


def _bmi_x_age(columns: Any) -> Any:
    return columns["bmi"] * columns["age"] / 100.0


def _glucose_x_bmi(columns: Any) -> Any:
    return columns["glucose"] * columns["bmi"] / 1000.0


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
    import pandas as pd

    present = raw.notna()
    mask = {}
    for name in features:
        inputs = [i for i in inputs_of(name) if i in present]
        mask[name] = present[inputs].all(axis=1) if inputs else pd.Series(True, index=raw.index)
    return pd.DataFrame(mask, index=raw.index)


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

    def matrix(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """:meth:`transform` of PatientRecord dicts, in numpy alone. The same arithmetic on
        the same float64 values, so the same bits (a unit test compares), without a frame's
        fixed cost, which was most of a small batch's scoring time."""
        raw = np.empty((len(records), len(RAW_FEATURES)))
        if records:  # (an empty list does not broadcast to a (0, n) block)
            raw[:] = [[r.get(name) for name in RAW_FEATURES] for r in records]  # None → NaN
        return self.matrix_of(raw)

    def matrix_of(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`matrix` of the raw features as columns (``RAW_FEATURES`` order, NaN where a
        value was not measured): the scorer's path, from its columnar decode."""
        if not self.medians:
            raise RuntimeError("FeaturePipeline.fit must run before transform")
        out = np.empty((len(raw), len(RAW_FEATURES) + len(self.engineered)))
        out[:, : len(RAW_FEATURES)] = raw
        columns = dict(zip(RAW_FEATURES, out[:, : len(RAW_FEATURES)].T, strict=True))
        for name, median in self.medians.items():
            column = columns[name]
            column[np.isnan(column)] = median
        with np.errstate(divide="ignore", invalid="ignore"):  # as pandas: x/0 is inf
            for j, name in enumerate(self.engineered, start=len(RAW_FEATURES)):
                out[:, j] = ENGINEERED[name](columns)
        return out

    def describe(self) -> str:
        return f"{self.version}+{','.join(self.engineered) or 'none'}"


def records_to_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """PatientRecord dicts → a frame of the raw features (missing values as NaN)."""
    import pandas as pd

    return pd.DataFrame.from_records(
        [{name: r.get(name) for name in RAW_FEATURES} for r in records],
        columns=list(RAW_FEATURES),
    ).astype(float)
