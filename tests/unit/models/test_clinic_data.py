"""A clinic's labeled history: what loads, and every error naming what to fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskstream.models import data
from riskstream.models.clinic_data import MIN_PER_CLASS, ClinicDataError, load_labeled
from riskstream.schemas.patient_record import RAW_FEATURES


def _history(tmp_path: Path, rows: int = 120, name: str = "history.csv", **edit: object) -> Path:
    """Pima.te's first rows in riskstream's column names, with ``outcome``."""
    raw, y = data.load(data.HOLDOUT_FILE)
    frame = raw.head(rows).copy()
    frame["outcome"] = y.head(rows).map({1: "yes", 0: "no"})
    frame = frame.astype(object)
    for key, value in edit.items():
        column, row = key.rsplit("__", 1)
        frame.loc[int(row), column] = value
    path = tmp_path / name
    if name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    return path


def test_a_history_loads_with_its_outcome_coded_and_empty_cells_as_not_measured(
    tmp_path: Path,
) -> None:
    path = _history(tmp_path, glucose__3="", bmi__4="")
    features, y = load_labeled(path, "outcome")
    assert list(features.columns) == list(RAW_FEATURES) and len(features) == 120
    assert pd.isna(features.loc[5, "glucose"]) and pd.isna(features.loc[6, "bmi"])  # file rows
    assert set(y.unique()) == {0, 1}
    jsonl = _history(tmp_path, name="history.jsonl")
    assert len(load_labeled(jsonl, "outcome")[0]) == 120


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = _history(tmp_path)
    table = pd.read_csv(path).drop(columns=["pedigree"])
    table.to_csv(path, index=False)
    with pytest.raises(ClinicDataError, match="no column 'pedigree'") as caught:
        load_labeled(path, "outcome")
    assert "Your own data" in (caught.value.hint or "")
    with pytest.raises(ClinicDataError, match="no column 'diabetic'"):
        load_labeled(_history(tmp_path), "diabetic")


def test_values_out_of_range_are_named_with_their_rows(tmp_path: Path) -> None:
    path = _history(tmp_path, age__0=130, age__9=150)
    with pytest.raises(ClinicDataError, match=r"'age' has 2 value\(s\) outside") as caught:
        load_labeled(path, "outcome")
    assert caught.value.context["rows"] == "2, 11"


def test_glucose_in_mmol_per_litre_is_named_as_such(tmp_path: Path) -> None:
    path = _history(tmp_path)
    table = pd.read_csv(path)
    table["glucose"] = (table["glucose"] / 18).round(1)
    table.to_csv(path, index=False)
    with pytest.raises(ClinicDataError, match="looks like mmol/L") as caught:
        load_labeled(path, "outcome")
    assert "multiply by 18" in (caught.value.hint or "")


def test_text_in_a_number_column_and_a_bad_outcome_are_named(tmp_path: Path) -> None:
    with pytest.raises(ClinicDataError, match="'bmi' holds values that are not numbers") as c:
        load_labeled(_history(tmp_path, bmi__7="thirty"), "outcome")
    assert c.value.context["rows"] == "9"
    with pytest.raises(ClinicDataError, match="not 1/0, yes/no or true/false") as caught:
        load_labeled(_history(tmp_path, outcome__1="maybe"), "outcome")
    assert caught.value.context["values"] == "maybe"
    with pytest.raises(ClinicDataError, match="'age' is empty in some rows, and it is required"):
        load_labeled(_history(tmp_path, age__2=""), "outcome")


def test_too_few_examples_of_a_class_is_an_error(tmp_path: Path) -> None:
    path = _history(tmp_path)
    table = pd.read_csv(path)
    positives = table.index[table["outcome"] == "yes"]
    table = table.drop(positives[MIN_PER_CLASS - 1 :])
    table.to_csv(path, index=False)
    with pytest.raises(ClinicDataError, match=f"only {MIN_PER_CLASS - 1} examples of class diab"):
        load_labeled(path, "outcome")
