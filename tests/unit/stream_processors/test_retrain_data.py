"""A retrain whose range is open to now waits for labels that have not come yet, instead of
skipping the incident; a closed range, a zero wait or a stopping trainer do not wait."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from riskstream.core.settings import Settings
from riskstream.schemas.events import ModelVersionEvent
from riskstream.stream_processors import retrain_data
from riskstream.stream_processors.retrain_data import MergedRequest, examples_when_labeled


def _reads(monkeypatch: pytest.MonkeyPatch, skipped_first: int) -> list[int]:
    """retrain_data answers SKIPPED ``skipped_first`` times, then the examples; the list
    counts the reads."""
    reads: list[int] = []

    def fake(settings: Any, codec: Any, request: MergedRequest) -> Any:
        reads.append(1)
        if len(reads) <= skipped_first:
            return ModelVersionEvent.announce(
                "m", "SKIPPED", reason=f"only {len(reads)} labeled examples in the range"
            )
        return "EXAMPLES"

    monkeypatch.setattr(retrain_data, "retrain_data", fake)
    monkeypatch.setattr(retrain_data, "LABEL_POLL_S", 0.01)
    return reads


def _request(end: int | None) -> MergedRequest:
    request = MergedRequest()
    request.retrain_ids.append("r1")
    request.range_start, request.range_end = 1_000, end
    request.unbounded_end = end is None
    return request


def test_an_open_range_waits_for_its_labels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reads = _reads(monkeypatch, skipped_first=3)
    settings = Settings(state_dir=tmp_path, retrain_label_wait_s=30.0)
    data = examples_when_labeled(settings, Any, _request(None), threading.Event())
    assert data == "EXAMPLES" and len(reads) == 4


@pytest.mark.parametrize(
    ("end", "wait_s", "stopping"),
    [(5_000, 30.0, False), (None, 0.0, False), (None, 30.0, True)],
    ids=["closed range", "no wait", "stopping"],
)
def test_no_wait_when_more_labels_cannot_help_or_none_is_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, end: int | None, wait_s: float, stopping: bool
) -> None:
    reads = _reads(monkeypatch, skipped_first=3)
    stop = threading.Event()
    if stopping:
        stop.set()
    settings = Settings(state_dir=tmp_path, retrain_label_wait_s=wait_s)
    data = examples_when_labeled(settings, Any, _request(end), stop)
    assert isinstance(data, ModelVersionEvent) and data.status == "SKIPPED" and len(reads) == 1


def test_the_wait_ends_skipped_when_the_labels_never_come(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reads = _reads(monkeypatch, skipped_first=10**6)
    settings = Settings(state_dir=tmp_path, retrain_label_wait_s=0.2)
    data = examples_when_labeled(settings, Any, _request(None), threading.Event())
    assert isinstance(data, ModelVersionEvent) and data.status == "SKIPPED"
    assert 3 <= len(reads) <= 40  # read again every poll while the wait lasted


def test_a_retrain_keeps_each_example_as_the_frame_the_whole_example_makes() -> None:
    from riskstream.schemas.events import LabeledExample
    from riskstream.stream_processors.labeled_examples import ExampleRow, examples_frame, rows_frame

    def example(i: int, features: dict[str, float | None]) -> LabeledExample:
        return LabeledExample(
            example_id=f"e{i}", request_id=f"r{i}", patient_ref="p", event_time=i,
            labeled_at=i, features=features, label=i % 2, risk=0.5, predicted_label=1,
            model_version="1", prediction_partition=0, prediction_offset=i,
            truth_partition=0, truth_offset=i,
        )  # fmt: skip

    examples = [
        example(0, {"glucose": 120.0, "age": 33.0}),  # the rest not measured
        example(1, {"glucose": 99.0, "bmi": None, "age": 51.0}),  # measured as missing
    ]
    rows = [ExampleRow.of(e) for e in examples]
    assert [(r.event_time, r.request_id, r.label) for r in rows] == [(0, "r0", 0), (1, "r1", 1)]
    pd.testing.assert_frame_equal(rows_frame(rows), examples_frame(examples))
    frame = rows_frame(rows)
    assert list(frame.loc[:, "glucose"]) == [120.0, 99.0] and frame.loc[1, "age"] == 51.0
    assert frame.loc[:, "bmi"].isna().all()  # not measured, or measured as missing
    assert rows_frame([]).shape == (0, examples_frame(examples).shape[1])
