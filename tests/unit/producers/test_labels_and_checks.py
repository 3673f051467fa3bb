"""Files a clinic brings: label rows, and the dry run over records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskstream.models import data
from riskstream.producers.file_check import check_file
from riskstream.producers.labels import parse_time, to_label_row
from riskstream.producers.publish import FileRowError, read_rows


def test_a_label_row_codes_its_outcome_and_time() -> None:
    row = to_label_row(2, {"request_id": " r1 ", "outcome": "Yes"}, 1_000, "labels.csv")
    assert (row.request_id, row.outcome, row.event_time, row.source) == (
        "r1",
        1,
        1_000,
        "labels.csv",
    )
    assert to_label_row(3, {"request_id": "r2", "outcome": "0"}, 0, "f").outcome == 0
    assert parse_time("2026-11-22T06:00:00", 0) == 1_795_327_200_000
    assert parse_time("1795327200000", 0) == 1_795_327_200_000
    assert parse_time("", 7) == 7


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({"outcome": "1"}, "request_id", "no request_id"),
        ({"request_id": "r", "outcome": "2"}, "outcome", "is not 1/0"),
        ({"request_id": "r", "outcome": "1", "event_time": "noon"}, "event_time", "neither"),
    ],
)
def test_a_bad_label_row_names_its_field(raw: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(FileRowError, match=message) as caught:
        to_label_row(5, raw, 0, "f")
    assert caught.value.context["field"] == field


def test_a_line_that_is_not_json_is_a_bad_row_not_a_failed_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"request_id": "a", "outcome": 1}\nnot json\n[1, 2]\n')
    rows = list(read_rows(path))
    assert [n for n, _ in rows] == [1, 2, 3]
    with pytest.raises(FileRowError, match="not JSON"):
        to_label_row(2, rows[1][1], 0, "f")
    with pytest.raises(FileRowError, match="not a JSON object"):
        to_label_row(3, rows[2][1], 0, "f")


def test_the_dry_run_counts_valid_rows_and_compares_fields_with_the_reference(
    tmp_path: Path,
) -> None:
    path = tmp_path / "visits.csv"
    path.write_text(
        "patient_id,pregnancies,glucose,blood_pressure,skin_thickness,bmi,pedigree,age\n"
        "p1,1,5.5,70,,30,0.3,40\n"
        "p2,2,6.1,72,30,28,0.5,33\n"
        "p3,0,7.0,80,25,,0.2,29\n"
        "p4,x,100,70,20,25,0.2,30\n"
        "p5,1,120,70,20,25,0.4,30\n"
    )
    reference = data.load(data.TRAIN_FILE)[0]
    report = check_file(path, reference)
    assert (report.rows, report.valid) == (5, 1)
    assert report.reasons() == {"out_of_range:glucose": 3, "pregnancies: value is not a number": 1}
    by_name = {f.name: f for f in report.fields}
    assert by_name["skin_thickness"].missing_share == pytest.approx(0.25)
    assert by_name["skin_thickness"].reference_missing_share == pytest.approx(
        reference["skin_thickness"].isna().mean()
    )
    assert (by_name["glucose"].low, by_name["glucose"].high) == (5.5, 120)
    assert by_name["glucose"].outside_reference == 3  # below the reference's minimum
    assert "looks like mmol/L" in report.units["glucose"]
    assert pd.notna(by_name["glucose"].reference_low)
