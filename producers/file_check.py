"""A dry run over a file of patient records (`riskstream publish --from FILE --check`):
which rows would be sent and which not and why, and how each field compares with the
reference, before anything reaches the topic. Nothing is sent.

The reference is the data the bootstrap champion learned (the bundled Pima rows), or a
clinic's own history (``--reference FILE``): each field's missing share and range there,
against the file's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskstream.core.ids import now_ms
from riskstream.producers.publish import FileRowError, read_rows, to_record
from riskstream.schemas.patient_record import RAW_FEATURES, unit_suspicions, validate_record


@dataclass(frozen=True)
class FieldCheck:
    name: str
    missing_share: float
    reference_missing_share: float
    low: float | None  # the file's measured minimum and maximum
    high: float | None
    reference_low: float | None
    reference_high: float | None
    outside_reference: int  # measured values outside the reference's range


@dataclass
class FileCheck:
    rows: int = 0
    valid: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    fields: list[FieldCheck] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # field → what its values look like

    def reasons(self) -> Counter[str]:
        return Counter(reason for _, reason in self.rejected)


def check_file(path: Path, reference: pd.DataFrame) -> FileCheck:
    """Validate every row as ``publish`` would and compare the fields with ``reference``
    (features in PatientRecord names, NaN where not measured)."""
    check = FileCheck()
    parsed = []
    for number, raw in read_rows(path):
        check.rows += 1
        try:
            record = to_record(raw, now_ms(), source=path.name)
        except FileRowError as exc:
            check.rejected.append((number, f"{exc.context.get('field')}: {exc.message}"))
            continue
        values = record.to_avro()
        parsed.append({name: values.get(name) for name in RAW_FEATURES})
        violation = validate_record(values)
        if violation is None:
            check.valid += 1
        else:
            check.rejected.append((number, violation.reason))
    frame = pd.DataFrame(parsed, columns=list(RAW_FEATURES), dtype=float)
    check.fields = [compare_field(name, frame[name], reference[name]) for name in RAW_FEATURES]
    check.units = unit_suspicions(frame)
    return check


def compare_field(name: str, values: pd.Series, reference: pd.Series) -> FieldCheck:
    measured, known = values.dropna(), reference.dropna()
    ref_low = float(known.min()) if len(known) else None
    ref_high = float(known.max()) if len(known) else None
    outside = 0
    if ref_low is not None and ref_high is not None:
        outside = int(np.sum((measured < ref_low) | (measured > ref_high)))
    return FieldCheck(
        name=name,
        missing_share=float(values.isna().mean()) if len(values) else 0.0,
        reference_missing_share=float(reference.isna().mean()) if len(reference) else 0.0,
        low=float(measured.min()) if len(measured) else None,
        high=float(measured.max()) if len(measured) else None,
        reference_low=ref_low,
        reference_high=ref_high,
        outside_reference=outside,
    )
