"""`riskstream publish` against the real broker: bad rows from a file, and each simulated
scenario's statistical signature, read back from the topics (values, and the broker's
timestamps for pacing and label delays)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from riskstream.app.cli.main import app
from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH, PATIENT_RECORDS
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.clients import codec_for
from riskstream.producers.simulator import window_means
from riskstream.schemas.events import PatientRecord
from riskstream.schemas.patient_record import IMPUTABLE
from tests.integration.conftest import fresh_prefix, read_messages, worker_env

ROWS = """patient_id,pregnancies,glucose,blood_pressure,skin_thickness,bmi,pedigree,age
p1,2,120,70,30,31.5,0.4,35
p2,1,abc,70,30,31.5,0.4,35
p3,0,5000,70,30,31.5,0.4,35
,0,100,70,30,31.5,0.4,35
p5,3,99,,,28.1,0.2,41
p6,3,99,60,20,28.1,0.2,-2
"""


def _deployment(stack: Settings, state_dir: Path) -> Settings:
    """Own topics (2 partitions) and state dir on the shared stack."""
    settings = stack.model_copy(
        update={
            "topic_prefix": fresh_prefix("pub"),
            "topic_partitions": 2,
            "state_dir": state_dir,
        }
    )
    ensure_topics(settings)
    return settings


def _read(settings: Settings, topic: str, event_type: str, expected: int) -> list[tuple]:
    codec = codec_for(settings)
    read = read_messages(settings, settings.topic(topic), expected, quiet_s=2)
    assert len(read) <= expected, "more messages than expected"
    return [
        (m.key(), codec.decode(m.value(), event_type), m.partition(), m.offset(), m.timestamp()[1])
        for m in read
    ]


def test_publish_from_a_csv_rejects_bad_rows_by_number(stack: Settings, tmp_path: Path) -> None:
    settings = _deployment(stack, tmp_path)
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text(ROWS)
    result = CliRunner().invoke(app, ["publish", "--from", str(csv_file)], env=worker_env(settings))
    assert result.exit_code == 0, result.output
    for line in (
        "rejected row 3: glucose: value is not a number",
        "rejected row 4: out_of_range:glucose",
        "rejected row 5: patient_id: row has no patient_id",
        "rejected row 7: negative:age",
    ):
        assert line in result.output
    sent = _read(settings, PATIENT_RECORDS.name, "PatientRecord", 2)
    assert sorted(key for key, *_ in sent) == [b"p1", b"p5"]
    p5 = next(record for key, record, *_ in sent if key == b"p5")
    assert p5["blood_pressure"] is None and p5["skin_thickness"] is None

    forced = CliRunner().invoke(
        app, ["publish", "--from", str(csv_file), "--allow-invalid"], env=worker_env(settings)
    )
    assert forced.exit_code == 0, forced.output
    assert "rejected row 3" in forced.output  # unreadable rows cannot be sent at all
    assert "rejected row 4" not in forced.output and "rejected row 7" not in forced.output


def test_a_simulated_shift_arrives_with_its_labels(stack: Settings, tmp_path: Path) -> None:
    settings = _deployment(stack, tmp_path)
    args = [
        "publish",
        "--simulate",
        "covariate-shift",
        "--count",
        "1200",
        "--rate",
        "2000",
        "--shift-at",
        "600",
        "--size-sd",
        "1.0",
        "--labels",
        "--label-delay",
        "0.2",
    ]
    result = CliRunner().invoke(app, args, env=worker_env(settings))
    assert result.exit_code == 0, result.output
    records = _read(settings, PATIENT_RECORDS.name, "PatientRecord", 1200)
    truths = _read(settings, GROUND_TRUTH.name, "GroundTruth", 1200)
    by_index = sorted((int(r["request_id"].rsplit("-", 1)[1]), r) for _, r, *_ in records)
    glucose = np.array([r["glucose"] for _, r in by_index])
    shift = (glucose[600:].mean() - glucose[:600].mean()) / glucose[:600].std()
    assert 0.75 < shift < 1.25
    assert {t["request_id"] for _, t, *_ in truths} == {r["request_id"] for _, r in by_index}
    assert all(key == r["patient_id"].encode() for key, r, *_ in records)


def _simulate(settings: Settings, scenario: str, *options: str) -> None:
    """Complete records (no training-rate gaps), so each scenario's own signature is what
    is measured; the gaps have their unit test (tests/unit/producers)."""
    args = ["publish", "--simulate", scenario, "--baseline-missing", "0", *options]
    result = CliRunner().invoke(app, args, env=worker_env(settings))
    assert result.exit_code == 0, result.output


def _stamped(settings: Settings, labels: bool, n: int) -> list[tuple[dict[str, Any], int]]:
    """The records (or labels) in simulation order, each with its broker timestamp."""
    topic, event_type = (
        (GROUND_TRUTH.name, "GroundTruth")
        if labels
        else (
            PATIENT_RECORDS.name,
            "PatientRecord",
        )
    )
    read = [(value, ts) for _, value, *_, ts in _read(settings, topic, event_type, n)]
    return sorted(read, key=lambda item: int(item[0]["request_id"].rsplit("-", 1)[1]))


def _records(settings: Settings, n: int) -> list[PatientRecord]:
    return [PatientRecord.from_avro(record) for record, _ in _stamped(settings, False, n)]


def _corr(records: list[PatientRecord], outcomes: list[int], feature: str) -> float:
    return float(np.corrcoef([getattr(r, feature) for r in records], outcomes)[0, 1])


def test_a_gradual_shift_ramps_the_window_means(stack: Settings, tmp_path: Path) -> None:
    settings = _deployment(stack, tmp_path)
    options = ["--count", "1600", "--rate", "4000", "--shift-at", "400", "--ramp", "800"]
    _simulate(settings, "covariate-shift", *options, "--size-sd", "1.0", "--feature", "bmi")
    records = _records(settings, 1600)
    means = window_means(records, "bmi", 200)  # 8 windows: 2 clean, 4 ramping, 2 shifted
    sd = float(np.std([r.bmi for r in records[:400]]))
    moved = [(m - means[0]) / sd for m in means]
    assert abs(moved[1]) < 0.3
    assert 0.2 < moved[3] < 0.8  # records 600-800 carry a quarter to a half of the shift
    assert 0.75 < moved[7] < 1.25 and 0.75 < moved[6] < 1.25
    assert moved[7] > moved[4] > moved[2]


def test_concept_drift_changes_what_predicts_the_outcome_not_the_features(
    stack: Settings, tmp_path: Path
) -> None:
    settings = _deployment(stack, tmp_path)
    options = ["--count", "3000", "--rate", "6000", "--shift-at", "1500", "--labels"]
    _simulate(settings, "concept-drift", *options)
    records = _records(settings, 3000)
    truths = {t["request_id"]: t["outcome"] for t, _ in _stamped(settings, True, 3000)}
    outcomes = [truths[r.request_id] for r in records]
    before, after = slice(0, 1500), slice(1500, 3000)

    def corr(part: slice, feature: str) -> float:
        return _corr(records[part], outcomes[part], feature)

    assert corr(after, "glucose") < corr(before, "glucose") - 0.15
    assert corr(after, "bmi") > corr(before, "bmi") + 0.1
    glucose = np.array([r.glucose for r in records])
    assert abs(glucose[after].mean() - glucose[before].mean()) < 0.15 * glucose[before].std()


def test_a_missing_surge_empties_each_measured_field_at_the_requested_rate(
    stack: Settings, tmp_path: Path
) -> None:
    settings = _deployment(stack, tmp_path)
    options = ["--count", "1000", "--rate", "5000", "--shift-at", "500", "--missing-rate", "0.3"]
    _simulate(settings, "missing-surge", *options)
    records = _records(settings, 1000)
    for field in IMPUTABLE:
        before = np.mean([getattr(r, field) is None for r in records[:500]])
        after = np.mean([getattr(r, field) is None for r in records[500:]])
        assert before == 0 and 0.23 < after < 0.37, (field, before, after)


def test_a_volume_drop_slows_arrivals_at_the_broker(stack: Settings, tmp_path: Path) -> None:
    settings = _deployment(stack, tmp_path)
    options = ["--count", "600", "--rate", "400", "--shift-at", "300", "--volume-factor", "0.25"]
    _simulate(settings, "volume-drop", *options)
    arrived = _stamped(settings, False, 600)
    stamps = np.array([ts for _, ts in arrived], dtype=float)
    events = np.array([r["event_time"].timestamp() for r, _ in arrived])
    before_rate = 299 / ((stamps[299] - stamps[0]) / 1000)
    after_rate = 299 / ((stamps[599] - stamps[300]) / 1000)
    assert 340 < before_rate < 460, before_rate
    assert 85 < after_rate < 115, after_rate
    # event times (ms resolution) are spaced out by the same factor
    assert np.diff(events[300:]).mean() == pytest.approx(np.diff(events[:300]).mean() * 4, 0.02)


def test_labels_arrive_after_their_records_with_the_requested_delays(
    stack: Settings, tmp_path: Path
) -> None:
    settings = _deployment(stack, tmp_path)
    options = ["--count", "400", "--rate", "400", "--labels", "--label-delay", "0.5"]
    _simulate(settings, "label-delay", *options)
    sent = {r["request_id"]: ts for r, ts in _stamped(settings, False, 400)}
    labels = _stamped(settings, True, 400)
    delays = np.array([(ts - sent[t["request_id"]]) / 1000 for t, ts in labels])
    assert delays.min() > -0.01  # never before the record
    assert 0.4 < delays.mean() < 0.6, delays.mean()
    assert 0.7 < delays.std() / delays.mean() < 1.3  # exponential: spread about its mean
