"""`riskstream publish` against the real broker: bad rows from a file, simulated streams."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer
from typer.testing import CliRunner

from riskstream.cli.main import app
from riskstream.kafka.admin import ensure_topics
from riskstream.kafka.clients import codec_for
from riskstream.settings import Settings
from riskstream.topics import GROUND_TRUTH, PATIENT_RECORDS
from tests.integration.conftest import worker_env

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
            "topic_prefix": f"pub{uuid.uuid4().hex[:8]}.",
            "topic_partitions": 2,
            "state_dir": state_dir,
        }
    )
    ensure_topics(settings)
    return settings


def _read(settings: Settings, topic: str, event_type: str, expected: int) -> list[tuple]:
    codec = codec_for(settings)
    consumer = Consumer(
        settings.kafka_config(
            {"group.id": f"c-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([settings.topic(topic)])
    out: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + 30
    while len(out) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.3)
        if msg is not None and not msg.error():
            out.append(
                (msg.key(), codec.decode(msg.value(), event_type), msg.partition(), msg.offset())
            )
    time.sleep(1)
    extra = consumer.poll(1.0)
    consumer.close()
    assert extra is None or extra.error(), "more messages than expected"
    return out


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
