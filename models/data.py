"""The Pima data shipped in ``data/pima`` (see its PROVENANCE.md), in PatientRecord names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "pima"
TRAIN_FILE = "Pima.tr2.csv"  # Pima.tr plus 100 subjects with missing values
HOLDOUT_FILE = "Pima.te.csv"  # only for the final report
COLUMNS = {
    "npreg": "pregnancies",
    "glu": "glucose",
    "bp": "blood_pressure",
    "skin": "skin_thickness",
    "bmi": "bmi",
    "ped": "pedigree",
    "age": "age",
}


def load(name: str, data_dir: Path = DATA_DIR) -> tuple[pd.DataFrame, pd.Series]:
    """Features (PatientRecord names) and the outcome (1 = diabetic) of one shipped file."""
    path = data_dir / name
    if not path.exists():
        from riskstream.core.errors import RiskstreamError

        raise RiskstreamError(
            "the Pima data file is missing",
            path=str(path),
            hint="run from a full checkout of riskstream: data/pima ships with it",
        )
    raw = pd.read_csv(path)
    features = raw.rename(columns=COLUMNS)[list(COLUMNS.values())].astype(float)
    outcome = (raw["type"] == "Yes").astype(int).rename("outcome")
    return features, outcome


def sha256(name: str, data_dir: Path = DATA_DIR) -> str:
    return hashlib.sha256((data_dir / name).read_bytes()).hexdigest()
