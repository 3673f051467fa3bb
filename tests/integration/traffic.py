"""Traffic the fault and cluster tests send: records and their labels, keyed by 40 patients,
and the predictions each monitor window should count."""

from __future__ import annotations

from collections import Counter
from typing import Any

from confluent_kafka import Producer

from riskstream.core.ids import now_ms
from riskstream.core.settings import Settings
from riskstream.core.topics import GROUND_TRUTH, PATIENT_RECORDS
from riskstream.io.kafka.clients import codec_for
from tests.unit.schemas.samples import SAMPLES


def records(start: int, n: int) -> list[tuple[bytes, dict[str, object]]]:
    return [
        (
            f"p{i % 40}".encode(),
            {
                **SAMPLES["PatientRecord"],
                "request_id": f"r{i}",
                "patient_id": f"p{i % 40}",
                "event_time": now_ms(),
                "glucose": 90.0 + i % 60,
            },
        )
        for i in range(start, start + n)
    ]


def truths(start: int, n: int) -> list[tuple[bytes, dict[str, object]]]:
    return [
        (
            f"p{i % 40}".encode(),
            {
                **SAMPLES["GroundTruth"],
                "label_id": f"l{i}",
                "request_id": f"r{i}",
                "patient_id": f"p{i % 40}",
                "event_time": now_ms(),
                "outcome": i % 2,
            },
        )
        for i in range(start, start + n)
    ]


def send_records_and_labels(producer: Producer, settings: Settings, start: int, n: int) -> None:
    """Queue records ``start`` .. ``start + n`` and the label of each (the caller polls)."""
    codec = codec_for(settings)
    for key, record in records(start, n):
        producer.produce(
            settings.topic(PATIENT_RECORDS.name),
            key=key,
            value=codec.encode("PatientRecord", record),
        )
    for key, truth in truths(start, n):
        producer.produce(
            settings.topic(GROUND_TRUTH.name), key=key, value=codec.encode("GroundTruth", truth)
        )


def window_counts(predictions: list[dict[str, Any]], window_s: int) -> dict[int, int]:
    """Predictions per monitor window start, from their event times."""
    size_ms = window_s * 1000
    return dict(
        Counter(int(p["event_time"].timestamp() * 1000) // size_ms * size_ms for p in predictions)
    )
