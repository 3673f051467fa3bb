"""Real Pima rows as clinic traffic: the complete rows of the shipped CSVs, resampled with a
small measurement jitter.

The simulator draws from a model fitted on the training data; this draws the patients
themselves, so it is the control the simulator cannot be: data riskstream did not make. The
complete rows of ``Pima.tr`` and ``Pima.te`` (532 women, no value missing) are the same
population as the training file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from riskstream.models import data
from riskstream.schemas.events import PatientRecord
from riskstream.schemas.patient_record import IMPUTABLE, RANGES, RAW_FEATURES

SOURCES = ("Pima.tr.csv", "Pima.te.csv")
# How much a repeated measurement moves: a glucose reading by a couple of mg/dL, a skinfold
# by a millimetre, and so on. Counts (pregnancies) and age do not move.
JITTER: dict[str, float] = {
    "glucose": 2.0,
    "blood_pressure": 2.0,
    "skin_thickness": 1.0,
    "bmi": 0.3,
    "pedigree": 0.01,
}
INTEGER_FEATURES = ("pregnancies", "glucose", "blood_pressure", "skin_thickness", "age")


def complete_rows() -> tuple[pd.DataFrame, pd.Series]:
    frames, outcomes = zip(*(data.load(name) for name in SOURCES), strict=True)
    frame = pd.concat(frames, ignore_index=True)
    outcome = pd.concat(outcomes, ignore_index=True)
    keep = frame.notna().all(axis=1).to_numpy()
    return frame[keep].reset_index(drop=True), outcome[keep].reset_index(drop=True)


def resample(
    n: int, rng: np.random.Generator, missing: dict[str, float] | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows drawn with replacement, jittered within the valid ranges; ``missing`` maps
    an imputable feature to the share of rows that leave it out (NaN)."""
    frame, outcome = complete_rows()
    picks = rng.integers(0, len(frame), n)
    out = frame.iloc[picks].reset_index(drop=True).copy()
    for name, sd in JITTER.items():
        out[name] = out[name] + rng.normal(0.0, sd, n)
    for name in INTEGER_FEATURES:
        out[name] = out[name].round()
    for name in RAW_FEATURES:
        low, high = RANGES[name]
        out[name] = out[name].clip(low, high)
    for name, share in (missing or {}).items():
        if name not in IMPUTABLE:
            raise ValueError(
                f"{name} is required in a PatientRecord; only {IMPUTABLE} may be missing"
            )
        out.loc[rng.random(n) < share, name] = np.nan
    return out, outcome.to_numpy()[picks]


def as_records(
    frame: pd.DataFrame, start_ms: int, rate: float, run: str, source: str = "pima-rows"
) -> list[PatientRecord]:
    """PatientRecords, one every ``1 / rate`` seconds of event time from ``start_ms``."""
    records = []
    for i, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict()
        record: dict[str, Any] = {
            "request_id": f"{run}-{i}",
            "patient_id": f"{run}-patient-{i % 5000}",
            "source": source,
            "event_time": start_ms + int(i * 1000 / rate),
            "insulin": None,
        }
        for name in RAW_FEATURES:
            value = values[name]
            if value != value:  # NaN: not measured
                record[name] = None
            elif name in ("pregnancies", "age"):
                record[name] = int(value)
            else:
                record[name] = float(value)
        records.append(PatientRecord(**record))
    return records
