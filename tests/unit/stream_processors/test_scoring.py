import json
import math
import struct
from typing import Any

import pytest

from riskstream.core.pseudonyms import patient_ref
from riskstream.models.monitoring.variants import serving_variant
from riskstream.schemas import AvroCodec, LocalSchemaCatalog
from riskstream.schemas.catalog import load_schema_json
from riskstream.schemas.events import DeadLetter, Prediction
from riskstream.stream_processors.scoring import Input, score_batch
from tests.fixture_model import fixture_model
from tests.unit.schemas.samples import SAMPLES

CODEC = AvroCodec(max_payload_bytes=64 * 1024)
GOOD = SAMPLES["PatientRecord"]

KEY = b"0123456789abcdef0123456789abcdef"  # the pseudonym key of these tests


def _input(value: bytes | None, key: bytes | None = b"p-1", offset: int = 0) -> Input:
    return Input(key, value, "patient-records", 2, offset, 1_700_000_000_000)


def _encode(**changes: Any) -> bytes:
    return CODEC.encode("PatientRecord", {**GOOD, **changes})


def test_a_valid_record_gets_one_full_prediction() -> None:
    model = fixture_model()
    batch = score_batch(
        [_input(_encode(), offset=7)], model, CODEC, "diabetes-risk", pseudonym_key=KEY
    )
    assert batch.dead_letters == []
    ((key, p),) = batch.predictions
    assert p.patient_ref == patient_ref(KEY, "p-1") != "p-1" and key == p.patient_ref.encode()
    assert p.request_id == "r-1" and "p-1" not in repr(p)
    assert 0 <= p.risk <= 1
    assert p.label == int(p.risk >= p.threshold)
    assert p.model_version == "1" and p.model_name == "diabetes-risk"
    assert (p.source_partition, p.source_offset) == (2, 7)
    assert len(p.contributions) == 3
    assert set(p.features) == set(model.feature_names)
    assert p.features["skin_thickness"] == model.pipeline.medians["skin_thickness"]
    assert (
        p.missing
        == [n for n in ("glucose", "blood_pressure", "skin_thickness", "bmi") if GOOD[n] is None]
        and "skin_thickness" in p.missing
    )
    assert p.latency_ms >= 0
    assert CODEC.decode_event(CODEC.encode_event(p), Prediction) == p  # it fits the schema


def _without_age_writer() -> bytes:
    catalog = LocalSchemaCatalog.shipped()
    schema = load_schema_json("PatientRecord")
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "age"]
    writer = AvroCodec(catalog, reader_schemas={"PatientRecord": schema})
    data = writer.encode("PatientRecord", {k: v for k, v in GOOD.items() if k != "age"})
    CODEC._source.register(schema)  # type: ignore[attr-defined]  # the reader knows the id
    return data


BAD = {
    "empty": (lambda: b"", "empty_payload"),
    "json": (lambda: json.dumps({"glucose": 120}).encode(), "wrong_magic_byte"),
    "magic": (lambda: b"\x07" + _encode()[1:], "wrong_magic_byte"),
    "truncated": (lambda: _encode()[:20], "truncated_payload"),
    "unknown_id": (lambda: b"\x00" + struct.pack(">I", 42) + _encode()[5:], "unknown_schema_id"),
    "oversized": (lambda: _encode() + b"\x00" * (1024 * 1024), "oversized_payload"),
    "nan": (lambda: _encode(glucose=math.nan), "nan:glucose"),
    "negative_age": (lambda: _encode(age=-3), "negative:age"),
    "absurd_glucose": (lambda: _encode(glucose=4000.0), "out_of_range:glucose"),
    "missing_field": (_without_age_writer, "missing_field"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_every_bad_input_becomes_a_dead_letter_with_its_reason(kind: str) -> None:
    make, reason = BAD[kind]
    value = make()
    batch = score_batch(
        [_input(value, offset=3), _input(_encode(request_id="ok"))],
        fixture_model(),
        CODEC,
        "m",
        pseudonym_key=KEY,
    )
    assert [p.request_id for _, p in batch.predictions] == ["ok"]
    ((key, letter),) = batch.dead_letters
    assert letter.reason == reason
    assert letter.original_value == value  # byte for byte
    assert letter.original_key == key == b"p-1"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "patient-records",
        2,
        3,
    )
    assert CODEC.decode_event(CODEC.encode_event(letter), DeadLetter) == letter


@pytest.mark.parametrize("key", [None, b"\xff\xfe", b"someone-else"])
def test_a_wrong_key_is_a_dead_letter(key: bytes | None) -> None:
    batch = score_batch(
        [_input(_encode(), key=key)], fixture_model(), CODEC, "m", pseudonym_key=KEY
    )
    assert batch.predictions == []
    assert batch.dead_letters[0][1].reason == "wrong_key"


def test_dead_letter_details_carry_no_patient_values() -> None:
    batch = score_batch(
        [_input(_encode(glucose=4321.0))], fixture_model(), CODEC, "m", pseudonym_key=KEY
    )
    letter = batch.dead_letters[0][1]
    assert "4321" not in letter.detail and "p-1" not in letter.detail


def test_one_batch_is_scored_by_one_version() -> None:
    items = [_input(_encode(request_id=f"r{i}"), offset=i) for i in range(50)]
    batch = score_batch(items, fixture_model(version="9"), CODEC, "m", pseudonym_key=KEY)
    assert {p.model_version for _, p in batch.predictions} == {"9"}
    assert len(batch.predictions) == 50


def _patients(n: int) -> list[Input]:
    return [
        _input(_encode(patient_id=f"p-{i}", request_id=f"r-{i}"), key=f"p-{i}".encode(), offset=i)
        for i in range(n)
    ]


def test_without_a_challenger_the_champion_serves_every_record_and_nothing_is_shadow() -> None:
    batch = score_batch(
        _patients(20), fixture_model(), CODEC, "diabetes-risk", split=0.5, pseudonym_key=KEY
    )
    assert len(batch.predictions) == 20 and batch.shadow == []
    assert {(p.variant, p.shadow, p.model_version) for _, p in batch.predictions} == {
        ("champion", False, "1")
    }


@pytest.mark.parametrize("split", [0.0, 0.3, 1.0])
def test_with_a_challenger_each_record_gets_one_served_and_one_shadow_prediction(
    split: float,
) -> None:
    champion = fixture_model("logistic", "1")
    challenger = fixture_model("xgboost", "2")
    items = _patients(200)
    items.append(_input(b"\x00garbage", key=b"p-x", offset=999))
    batch = score_batch(
        items, champion, CODEC, "diabetes-risk", challenger, split, pseudonym_key=KEY
    )
    assert len(batch.dead_letters) == 1  # invalid input: a dead letter, neither variant
    served = {p.request_id: p for _, p in batch.predictions}
    shadow = {p.request_id: p for _, p in batch.shadow}
    assert len(served) == len(shadow) == 200 == len(batch.predictions) == len(batch.shadow)
    assert not any(p.shadow for p in served.values())
    assert all(p.shadow for p in shadow.values())
    for request_id, p in served.items():
        other = shadow[request_id]
        expected = serving_variant(p.patient_ref, split)
        assert p.variant == expected and other.variant != expected
        assert {p.model_version, other.model_version} == {"1", "2"}
        assert p.model_version == ("2" if expected == "challenger" else "1")
        assert p.prediction_id != other.prediction_id
    by_challenger = sum(p.variant == "challenger" for p in served.values())
    assert by_challenger == sum(
        serving_variant(patient_ref(KEY, f"p-{i}"), split) == "challenger" for i in range(200)
    )
    # the shadow scores are the challenger's own: the same as scoring with it alone
    alone = score_batch(_patients(200), challenger, CODEC, "diabetes-risk", pseudonym_key=KEY)
    risk_alone = {p.request_id: p.risk for _, p in alone.predictions}
    for p in [*served.values(), *shadow.values()]:
        if p.model_version == "2":
            assert p.risk == pytest.approx(risk_alone[p.request_id])
    assert (
        CODEC.decode_event(CODEC.encode_event(batch.shadow[0][1]), Prediction)
        == (batch.shadow[0][1])
    )


@pytest.mark.parametrize("split", [None, 0.0, 0.5])
def test_the_wire_bytes_are_the_encoded_events_in_order_with_their_keys_and_partitions(
    split: float | None,
) -> None:
    challenger = fixture_model("xgboost", "2") if split is not None else None
    items = [
        Input(i.key, i.value, i.topic, i.offset % 6, i.offset, i.timestamp_ms)
        for i in _patients(60)
    ]
    batch = score_batch(
        items, fixture_model(), CODEC, "m", challenger, split or 0.0, pseudonym_key=KEY
    )
    served, shadow = batch.encoded(CODEC)
    expected = [(k, CODEC.encode_event(p), p.source_partition) for k, p in batch.predictions]
    assert served == expected and len(served) == 60
    assert shadow == [(k, CODEC.encode_event(p), p.source_partition) for k, p in batch.shadow]
    assert len(shadow) == (60 if challenger else 0)
    assert [p for _, _, p in served] == [i % 6 for i in range(60)]
    assert score_batch([], fixture_model(), CODEC, "m", pseudonym_key=KEY).encoded(CODEC) == (
        [],
        [],
    )
