"""The compiled Avro writers against fastavro's: byte for byte, on every shipped schema and
on values chosen to reach every branch of the binary encoding."""

from __future__ import annotations

import io
import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from riskstream.schemas import (
    EVENT_TYPES,
    AvroCodec,
    MalformedPayloadError,
    MissingFieldError,
    events,
)
from riskstream.schemas.avro_writer import Unsupported, compile_writer, zigzag_varint
from riskstream.schemas.catalog import load_schema_json
from riskstream.schemas.events import Prediction
from tests.unit.schemas.samples import SAMPLES, T


def _fastavro(schema: Any, value: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), value)
    return buffer.getvalue()


def _compiled(schema: Any, value: Any) -> bytes:
    out: list[bytes] = []
    compile_writer(schema)(value, out)
    return b"".join(out)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_shipped_schema_compiles_and_writes_what_fastavro_writes(event_type: str) -> None:
    schema = load_schema_json(event_type)
    assert _compiled(schema, SAMPLES[event_type]) == _fastavro(schema, SAMPLES[event_type])


@pytest.mark.parametrize(
    "n", [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
)
def test_longs_take_fastavros_zigzag_varint_bytes(n: int) -> None:
    assert _compiled("long", n) == _fastavro("long", n)


def test_a_long_beyond_64_bits_is_refused() -> None:
    with pytest.raises(OverflowError):
        zigzag_varint(2**63)


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ("string", ""),
        ("string", "Grüße, 患者 🩺"),
        ("string", "x" * 300),  # a two-byte length
        ("bytes", b"\x00\xff" * 100),
        ("double", -0.0),
        ("double", 1e308),
        ("double", 7),  # an int where a double is due
        ("boolean", True),
        ({"type": "map", "values": "double"}, {}),
        ({"type": "array", "items": "string"}, []),
        ({"type": "array", "items": "long"}, list(range(-200, 200))),
        (["null", "string"], None),
        (["null", "string"], "clinic-a"),
        ({"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}, "C"),
        ({"type": "long", "logicalType": "timestamp-millis"}, T),
        ({"type": "long", "logicalType": "timestamp-millis"}, datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_each_construct_writes_what_fastavro_writes(schema: Any, value: Any) -> None:
    assert _compiled(schema, value) == _fastavro(schema, value)


def test_an_absent_field_takes_its_default_as_in_fastavro() -> None:
    schema = load_schema_json("Prediction")
    value = {k: v for k, v in SAMPLES["Prediction"].items() if k not in ("missing", "variant")}
    assert _compiled(schema, value) == _fastavro(schema, value)


def test_random_predictions_encode_as_fastavro_encodes_them() -> None:
    schema = load_schema_json("Prediction")
    rng = random.Random(7)
    base = Prediction.from_avro(SAMPLES["Prediction"])
    for _ in range(300):
        names = rng.sample(["glucose", "bmi", "age", "insulin", "pedigree", "ß"], rng.randint(0, 6))
        event = replace(
            base,
            patient_ref=f"{rng.getrandbits(128):032x}",
            risk=rng.random(),
            source_offset=rng.randint(0, 2**40),
            latency_ms=rng.uniform(0, 1e4),
            features={n: rng.gauss(0, 100) for n in names},
            missing=names[: rng.randint(0, len(names))],
            contributions=[{"feature": n, "value": rng.gauss(0, 1)} for n in names[:3]],
            source=rng.choice([None, "clinic-a", "klinik-ü"]),
            shadow=rng.random() < 0.5,
        )
        assert _compiled(schema, event) == _fastavro(schema, event.to_avro())


def test_a_codec_encodes_an_event_as_it_encodes_its_dict() -> None:
    codec = AvroCodec()
    for event_type in ("Prediction", "PatientRecord", "DriftAlert", "LabeledExample"):
        event = getattr(events, event_type).from_avro(SAMPLES[event_type])
        assert codec.encode_event(event) == codec.encode(event_type, event.to_avro())


@pytest.mark.parametrize(
    "event_type", ["Prediction", "PatientRecord", "LabeledExample", "DriftAlert"]
)
def test_an_event_without_any_one_required_value_names_that_field(event_type: str) -> None:
    """Each required field, of each type, left out alone: the write fails (the codec looks
    for missing fields only then) and the error names it."""
    codec = AvroCodec()
    required = codec._required[event_type]
    assert required
    for name in required:
        event = replace(getattr(events, event_type).from_avro(SAMPLES[event_type]), **{name: None})
        with pytest.raises(MissingFieldError) as caught:
            codec.encode_event(event)
        assert caught.value.context["fields"] == name


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_writes_its_byte_and_a_none_is_no_false(value: bool) -> None:
    assert _compiled("boolean", value) == _fastavro("boolean", value)
    with pytest.raises(KeyError):
        _compiled("boolean", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [("risk", "high"), ("label", 0.5), ("features", {"glucose": "x"}), ("variant", 3)],
)
def test_a_wrongly_typed_event_value_is_malformed(field: str, value: Any) -> None:
    event = replace(Prediction.from_avro(SAMPLES["Prediction"]), **{field: value})
    with pytest.raises(MalformedPayloadError):
        AvroCodec().encode_event(event)


def test_an_enum_value_outside_its_symbols_is_refused() -> None:
    with pytest.raises(ValueError, match="symbols"):
        _compiled({"type": "enum", "name": "E", "symbols": ["A"]}, "B")


@pytest.mark.parametrize(
    "schema", ["float", ["string", "long"], ["null", "string", "long"], "io.riskstream.Named"]
)
def test_a_construct_not_compiled_is_refused_so_the_codec_keeps_fastavro(schema: Any) -> None:
    with pytest.raises(Unsupported):
        compile_writer(schema)


def test_a_field_name_that_is_no_identifier_is_read_not_run() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "x; 1/0", "type": "long"}]}
    holder = type("Holder", (), {"x; 1/0": 5})()
    assert _compiled(schema, holder) == _compiled(schema, {"x; 1/0": 5}) == b"\x0a"
