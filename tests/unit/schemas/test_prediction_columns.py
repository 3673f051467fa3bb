"""Predictions written from columns are the bytes the codec writes for the same events."""

from __future__ import annotations

import numpy as np
import pytest

from riskstream.schemas import AvroCodec
from riskstream.schemas.catalog import load_schema_json
from riskstream.schemas.events import Prediction
from riskstream.schemas.prediction_columns import LAYOUT, PredictionColumns

CODEC = AvroCodec()
NAMES = ("pregnancies", "glucose", "blood_pressure", "skin_thickness", "bmi", "pedigree", "age")


def _columns(count: int, seed: int = 0, top: int = 3) -> PredictionColumns:
    rng = np.random.default_rng(seed)
    features = rng.normal(100, 50, (count, len(NAMES)))
    features[0, 1] = np.nan  # what x/0 or an unfilled value leaves
    features[-1, 2] = -np.inf
    values = rng.normal(0, 1, (count, len(NAMES)))
    order = np.argsort(-np.abs(values), axis=1)[:, :top]
    missing = [[n for n in NAMES[1:5] if rng.random() < 0.3] for _ in range(count)]
    return PredictionColumns(
        prediction_ids=[f"{i:032x}" for i in range(count)],
        request_ids=["é-" * (i % 70) + str(i) for i in range(count)],  # past 127 bytes, non-ASCII
        patient_refs=[f"{i:064x}" for i in range(count)],
        event_times=rng.integers(-(2**62), 2**62, count),
        scored_at=1_733_000_000_000,
        model_name="diabetes-risk",
        model_version="12",
        risks=rng.random(count),
        labels=rng.integers(0, 2, count),
        threshold=0.42,
        latencies=rng.exponential(20.0, count),
        feature_names=NAMES,
        features=features,
        missing=missing,
        top_features=order,
        top_values=np.take_along_axis(values, order, axis=1),
        source_partitions=rng.integers(0, 300, count),
        source_offsets=np.concatenate(
            [[0, 127, 128, 2**63 - 1], rng.integers(0, 2**40, count - 4)]
        ),
        sources=[None if i % 3 == 0 else f"clinic-{i % 5}" for i in range(count)],
        variant="challenger",
    )


@pytest.mark.parametrize("top", [3, 0])
def test_each_record_is_the_bytes_the_codec_writes_for_its_event(top: int) -> None:
    cols = _columns(300, top=top)
    shadow = [i % 2 == 0 for i in range(len(cols))]
    written = cols.encode(CODEC, shadow)
    assert len(written) == len(cols)
    for i, data in enumerate(written):
        event = cols.event(i, shadow[i])
        assert data == CODEC.encode_event(event), f"record {i} differs"
        assert CODEC.encode_event(CODEC.decode_event(data, Prediction)) == data  # NaN != NaN


def test_an_event_holds_python_numbers_as_decoding_gives_them() -> None:
    event = _columns(5).event(1)
    assert type(event.risk) is float and type(event.label) is int
    assert type(event.source_offset) is int and type(event.event_time) is int
    assert all(type(v) is float for v in event.features.values())
    assert [c["feature"] for c in event.contributions] == [
        NAMES[j] for j in _columns(5).top_features[1]
    ]


def test_the_layout_is_the_shipped_schema_and_another_schema_is_left_to_the_codec() -> None:
    shipped = load_schema_json("Prediction")
    assert tuple(f["name"] for f in shipped["fields"]) == LAYOUT
    older = {**shipped, "fields": [f for f in shipped["fields"] if f["name"] != "shadow"]}
    codec = AvroCodec(reader_schemas={"Prediction": older})
    cols = _columns(6)
    written = cols.encode(codec, [True] * 6)
    assert written == [codec.encode_event(cols.event(i, True)) for i in range(6)]
    assert written != cols.encode(CODEC, [True] * 6)


def test_no_record_no_bytes() -> None:
    cols = _columns(6)
    empty = PredictionColumns(**{**cols.__dict__, "request_ids": []})
    assert empty.encode(CODEC, []) == []
