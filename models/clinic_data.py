"""A clinic's own labeled history from a file (`riskstream model train --from FILE`), checked
before any training: every problem is named with the column, the rows and what to fix.

The file is CSV (a header row of column names) or JSONL. Columns: the seven Pima features in
riskstream's names and units (see README, "Your own data"), an empty cell where a value was
not measured (allowed for glucose, blood_pressure, skin_thickness and bmi), and the outcome
column the caller names (1/0, yes/no or true/false). Rows are taken to be in time order:
the newest share judges the candidates, as the trainer judges a retrain.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from riskstream.core.errors import RiskstreamError
from riskstream.schemas.patient_record import (
    RANGES,
    RAW_FEATURES,
    REQUIRED,
    unit_suspicions,
)

MIN_PER_CLASS = 25  # 5 CV folds of at least 5 of each class, and a calibration to fit
LABELS = {"1": 1, "0": 0, "yes": 1, "no": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}
SHOWN_ROWS = 5  # row numbers named in an error, at most


class ClinicDataError(RiskstreamError):
    """A labeled history that cannot be trained on as it is."""


def read_table(path: Path) -> pd.DataFrame:
    """The file as text cells (CSV or JSONL), so that no value is guessed before checks."""
    if not path.exists():
        raise ClinicDataError("the file does not exist", path=str(path))
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    try:
        if jsonl:
            table = pd.read_json(path, lines=True, dtype=False).astype("string")
        else:
            table = pd.read_csv(path, dtype="string", keep_default_na=False)
    except ValueError as exc:
        raise ClinicDataError(
            "the file is neither CSV with a header row nor JSONL",
            path=str(path),
            error=str(exc)[:200],
        ) from None
    table.index = range(1 if jsonl else 2, len(table) + (1 if jsonl else 2))  # file rows
    return table


def load_features(path: Path) -> pd.DataFrame:
    """The file's feature columns as numbers (NaN where not measured), checked."""
    table = read_table(path)
    _require_columns(table, list(RAW_FEATURES), path)
    return _features(table, path)


def load_labeled(path: Path, label_column: str) -> tuple[pd.DataFrame, pd.Series]:
    """(features, outcome) of a labeled history, or a ClinicDataError naming what to fix."""
    table = read_table(path)
    _require_columns(table, [*RAW_FEATURES, label_column], path)
    features = _features(table, path)
    cells = table[label_column].fillna("").str.strip().str.lower()
    outcome = cells.map(LABELS)
    bad = outcome.isna()
    if bad.any():
        raise ClinicDataError(
            f"the outcome column {label_column!r} holds values that are not 1/0, yes/no or "
            "true/false",
            rows=_rows(bad),
            values=", ".join(sorted(set(table[label_column][bad].fillna("(empty)")))[:5]),
            hint="code the outcome 1 for diabetic, 0 for not, in every row",
        )
    y = outcome.astype(int).rename("outcome")
    counts = y.value_counts()
    for label, name in ((1, "diabetic (1)"), (0, "not diabetic (0)")):
        if counts.get(label, 0) < MIN_PER_CLASS:
            raise ClinicDataError(
                f"only {counts.get(label, 0)} examples of class {name}; training needs at "
                f"least {MIN_PER_CLASS} of each class",
                path=str(path),
                hint="add labeled history of that class, or train on the bundled Pima data "
                "(`riskstream model train` without --from)",
            )
    return features, y


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _require_columns(table: pd.DataFrame, wanted: list[str], path: Path) -> None:
    missing = [name for name in wanted if name not in table.columns]
    if missing:
        raise ClinicDataError(
            f"the file has no column {', '.join(repr(m) for m in missing)}",
            path=str(path),
            columns=", ".join(table.columns[:12]),
            hint="name the columns as README's 'Your own data' lists them (an empty cell "
            "where a value was not measured), and the outcome column with --label-column",
        )


def _features(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(index=table.index)
    for name in RAW_FEATURES:
        cells = table[name].fillna("").str.strip()
        numbers = pd.to_numeric(cells.replace("", np.nan), errors="coerce")
        wrong = numbers.isna() & (cells != "")
        if wrong.any():
            raise ClinicDataError(
                f"column {name!r} holds values that are not numbers",
                rows=_rows(wrong),
                hint="leave the cell empty where a value was not measured",
            )
        frame[name] = numbers.astype(float)
    units = unit_suspicions(frame)
    for name in RAW_FEATURES:
        _check_values(frame[name], name, units.get(name))
    return frame


def _check_values(values: pd.Series, name: str, unit: str | None) -> None:
    if name in REQUIRED and values.isna().any():
        raise ClinicDataError(
            f"column {name!r} is empty in some rows, and it is required",
            rows=_rows(values.isna()),
            hint=f"every record needs {', '.join(REQUIRED)}",
        )
    low, high = RANGES[name]
    outside = values.notna() & ((values < low) | (values > high))
    if outside.any():
        raise ClinicDataError(
            f"column {name!r} has {int(outside.sum())} value(s) outside the possible range "
            f"[{low:g}, {high:g}]" + (f"; {unit}" if unit else ""),
            rows=_rows(outside),
            hint=unit or "correct or remove those rows; an empty cell means 'not measured'",
        )


def _rows(mask: pd.Series) -> str:
    """The file's row numbers (a CSV's header is row 1) of the first few flagged rows."""
    numbers = [int(i) for i in mask[mask.to_numpy(dtype=bool)].index]
    shown = ", ".join(map(str, numbers[:SHOWN_ROWS]))
    more = len(numbers) - SHOWN_ROWS
    return shown + (f" and {more} more" if more > 0 else "")
