import io
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from confluent_kafka.serialization import SerializationError

from riskstream.core.errors import RiskstreamError
from riskstream.schemas import (
    EVENT_TYPES,
    AvroCodec,
    EmptyPayloadError,
    LocalSchemaCatalog,
    MalformedPayloadError,
    MissingFieldError,
    OversizedPayloadError,
    RegistrySchemaSource,
    SchemaMismatchError,
    TruncatedPayloadError,
    UnknownSchemaIdError,
    WrongMagicByteError,
    stable_schema_id,
)
from riskstream.schemas.catalog import historic_schemas, load_schema_json
from tests.unit.schemas.samples import SAMPLES, T


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(max_payload_bytes=10_000)


def _millis(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_round_trips(codec: AvroCodec, event_type: str) -> None:
    data = codec.encode(event_type, SAMPLES[event_type])
    assert data[0] == 0
    decoded = {k: _millis(v) for k, v in codec.decode(data, event_type).items()}
    assert decoded == SAMPLES[event_type]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_times_as_ms_reads_the_same_record_with_its_times_as_the_longs_on_the_wire(
    codec: AvroCodec, event_type: str
) -> None:
    data = codec.encode(event_type, SAMPLES[event_type])
    plain = codec.decode(data, event_type, times_as_ms=True)
    assert plain == SAMPLES[event_type]
    assert not any(isinstance(v, datetime) for v in plain.values())
    assert codec.decode(data, event_type) != plain  # that one gives datetimes


def test_times_as_ms_resolves_an_older_writer_schema_as_decode_does() -> None:
    """A record an earlier schema wrote: the same fields and defaults either way."""
    old = next(s for s in historic_schemas() if s["name"] == "PerformanceWindow")
    fields = {f["name"] for f in old["fields"]}
    record = {k: v for k, v in SAMPLES["PerformanceWindow"].items() if k in fields}
    body = io.BytesIO()
    body.write(struct.pack(">bI", 0, stable_schema_id(old)))
    fastavro.schemaless_writer(body, fastavro.parse_schema(old), record)
    codec = AvroCodec()
    dated = codec.decode(body.getvalue(), "PerformanceWindow")
    plain = codec.decode(body.getvalue(), "PerformanceWindow", times_as_ms=True)
    assert plain == {k: _millis(v) for k, v in dated.items()}
    assert plain["estimated_low"] == {} and plain["event_time"] == record["event_time"]


def test_timestamps_decode_as_utc_datetimes(codec: AvroCodec) -> None:
    record = codec.decode(codec.encode("PatientRecord", SAMPLES["PatientRecord"]), "PatientRecord")
    assert record["event_time"] == datetime.fromtimestamp(T / 1000, tz=UTC)


def test_wire_header_names_the_stable_schema_id(codec: AvroCodec) -> None:
    data = codec.encode("GroundTruth", SAMPLES["GroundTruth"])
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0
    assert schema_id == stable_schema_id(load_schema_json("GroundTruth"))


def test_schema_ids_are_distinct_and_ignore_docs() -> None:
    ids = {stable_schema_id(load_schema_json(e)) for e in EVENT_TYPES}
    assert len(ids) == len(EVENT_TYPES)
    schema = load_schema_json("GroundTruth")
    schema["doc"] = "reworded"
    assert stable_schema_id(schema) == stable_schema_id(load_schema_json("GroundTruth"))


def _valid(codec: AvroCodec) -> bytes:
    return codec.encode("PatientRecord", SAMPLES["PatientRecord"])


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [
        (lambda v: b"", EmptyPayloadError, "empty_payload"),
        (lambda v: None, EmptyPayloadError, "empty_payload"),
        (lambda v: b'{"glucose": 120}', WrongMagicByteError, "wrong_magic_byte"),
        (lambda v: b"\x01" + v[1:], WrongMagicByteError, "wrong_magic_byte"),
        (lambda v: v[:3], TruncatedPayloadError, "truncated_payload"),
        (lambda v: v[: len(v) // 2], TruncatedPayloadError, "truncated_payload"),
        (lambda v: b"\x00\x00\x00\x00\x07" + v[5:], UnknownSchemaIdError, "unknown_schema_id"),
        (lambda v: v + b"\x00\x01", MalformedPayloadError, "malformed_payload"),
        (lambda v: v[:5] + b"\xff" * 40, MalformedPayloadError, "malformed_payload"),
        (lambda v: v + b"\x00" * 20_000, OversizedPayloadError, "oversized_payload"),
    ],
)
def test_malformed_bytes_raise_typed_errors(
    codec: AvroCodec, make: Any, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as caught:
        codec.decode(make(_valid(codec)), "PatientRecord")
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert isinstance(caught.value, RiskstreamError)
    assert isinstance(caught.value, SerializationError)


def test_another_event_type_is_a_schema_mismatch(codec: AvroCodec) -> None:
    data = codec.encode("GroundTruth", SAMPLES["GroundTruth"])
    with pytest.raises(SchemaMismatchError):
        codec.decode(data, "PatientRecord")


def test_encoding_a_record_without_a_required_field_names_it(codec: AvroCodec) -> None:
    record = dict(SAMPLES["PatientRecord"])
    del record["glucose"], record["age"]  # glucose is nullable; age is required
    with pytest.raises(MissingFieldError) as caught:
        codec.encode("PatientRecord", record)
    assert caught.value.context["fields"] == "age"


def test_encoding_a_wrongly_typed_value_is_malformed(codec: AvroCodec) -> None:
    record = dict(SAMPLES["PatientRecord"], age="thirty")
    with pytest.raises(MalformedPayloadError):
        codec.encode("PatientRecord", record)


# -- schema evolution -----------------------------------------------------------------------


def _v2_patient_record() -> dict[str, Any]:
    schema = load_schema_json("PatientRecord")
    schema["fields"].append(
        {"name": "hba1c", "type": ["null", "double"], "default": None, "doc": "HbA1c, %."}
    )
    return schema


def _v2_without_default() -> dict[str, Any]:
    schema = load_schema_json("PatientRecord")
    schema["fields"].append({"name": "hba1c", "type": "double", "doc": "HbA1c, %."})
    return schema


def test_a_v1_reader_reads_v2_records() -> None:
    catalog = LocalSchemaCatalog.shipped()
    v2_writer = AvroCodec(catalog, reader_schemas={"PatientRecord": _v2_patient_record()})
    v1_reader = AvroCodec(catalog)
    data = v2_writer.encode("PatientRecord", dict(SAMPLES["PatientRecord"], hba1c=6.1))
    record = v1_reader.decode(data, "PatientRecord")
    assert "hba1c" not in record
    assert record["glucose"] == 120.0


def test_a_v2_reader_reads_v1_records_with_the_default() -> None:
    catalog = LocalSchemaCatalog.shipped()
    v2_reader = AvroCodec(catalog, reader_schemas={"PatientRecord": _v2_patient_record()})
    data = AvroCodec(catalog).encode("PatientRecord", SAMPLES["PatientRecord"])
    record = v2_reader.decode(data, "PatientRecord")
    assert record["hba1c"] is None
    assert record["age"] == 33


def test_a_reader_requiring_a_field_the_writer_lacks_gets_missing_field() -> None:
    catalog = LocalSchemaCatalog.shipped()
    strict_reader = AvroCodec(catalog, reader_schemas={"PatientRecord": _v2_without_default()})
    data = AvroCodec(catalog).encode("PatientRecord", SAMPLES["PatientRecord"])
    with pytest.raises(MissingFieldError):
        strict_reader.decode(data, "PatientRecord")


def test_a_reader_that_never_saw_the_v2_schema_reports_its_id_unknown() -> None:
    writer_catalog = LocalSchemaCatalog.shipped()
    v2_writer = AvroCodec(writer_catalog, reader_schemas={"PatientRecord": _v2_patient_record()})
    data = v2_writer.encode("PatientRecord", SAMPLES["PatientRecord"])
    with pytest.raises(UnknownSchemaIdError):
        AvroCodec(LocalSchemaCatalog.shipped()).decode(data, "PatientRecord")


def test_registry_ids_come_from_the_registry_client() -> None:
    source = RegistrySchemaSource("mock://riskstream-unit")
    writer = AvroCodec(source, reader_schemas={"PatientRecord": _v2_patient_record()})
    reader = AvroCodec(source)
    data = writer.encode("PatientRecord", dict(SAMPLES["PatientRecord"], hba1c=5.0))
    schema_id = struct.unpack(">I", data[1:5])[0]
    assert schema_id != stable_schema_id(_v2_patient_record())  # the registry chose it
    assert reader.decode(data, "PatientRecord")["age"] == 33
    with pytest.raises(UnknownSchemaIdError):
        reader.decode(data[:1] + struct.pack(">I", 999_999) + data[5:], "PatientRecord")


REMOVED = {"patient_id": "p-1"}  # fields of earlier Prediction and LabeledExample schemas


@pytest.mark.parametrize(
    "schema", historic_schemas(), ids=lambda s: f"{s['name']}-{stable_schema_id(s)}"
)
def test_events_an_earlier_release_wrote_still_decode(codec: AvroCodec, schema: Any) -> None:
    """Every schema riskstream shipped before: an event it wrote (the sample, cut to the
    fields it had) decodes into today's reader schema, new fields at their defaults."""
    import io

    import fastavro

    fields = {f["name"] for f in schema["fields"]}
    # the sample cut to the fields it had, with those it had and today's lacks (a patient id
    # before pseudonymous references)
    record = {k: v for k, v in {**REMOVED, **SAMPLES[schema["name"]]}.items() if k in fields}
    body = io.BytesIO()
    body.write(struct.pack(">bI", 0, stable_schema_id(schema)))
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    decoded = {
        k: round(v.timestamp() * 1000) if isinstance(v, datetime) else v
        for k, v in codec.decode(body.getvalue(), schema["name"]).items()
    }
    assert not set(REMOVED) & set(decoded), "a removed field reached today's reader"
    assert {k: decoded[k] for k in record if k not in REMOVED} == {
        k: v for k, v in record.items() if k not in REMOVED
    }
    current = {f["name"]: f for f in load_schema_json(schema["name"])["fields"]}
    for name in set(current) - fields:
        assert decoded[name] == current[name]["default"], name


def test_the_history_holds_no_current_schema_and_no_duplicate() -> None:
    ids = [stable_schema_id(s) for s in historic_schemas()]
    current = {stable_schema_id(load_schema_json(t)) for t in EVENT_TYPES}
    assert len(ids) == len(set(ids)) >= 11 and not set(ids) & current
