"""Traffic the fault and cluster tests send: records and their labels, keyed by 40 patients,
and the predictions each monitor window should count."""

from __future__ import annotations

from collections import Counter
from typing import Any

from riskstream.ids import now_ms
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


def window_counts(predictions: list[dict[str, Any]], window_s: int) -> dict[int, int]:
    """Predictions per monitor window start, from their event times."""
    size_ms = window_s * 1000
    return dict(
        Counter(int(p["event_time"].timestamp() * 1000) // size_ms * size_ms for p in predictions)
    )
