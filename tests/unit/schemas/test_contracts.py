"""Every .avsc follows the house rules: namespace, docs, an id and an event time."""

from typing import Any

import pytest

from riskstream.schemas.catalog import EVENT_TYPES, NAMESPACE, load_schema_json


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema["fields"])


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_schema_has_namespace_and_a_doc_on_every_field(event_type: str) -> None:
    schema = load_schema_json(event_type)
    assert schema["namespace"] == NAMESPACE
    assert schema["name"] == event_type
    assert schema.get("doc")
    for field in _fields(schema):
        assert field.get("doc"), f"{event_type}.{field['name']} has no doc"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_carries_an_id_and_a_millis_event_time(event_type: str) -> None:
    fields = {f["name"]: f for f in _fields(load_schema_json(event_type))}
    assert any(name.endswith("_id") and fields[name]["type"] == "string" for name in fields)
    assert fields["event_time"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_all_timestamps_are_timestamp_millis(event_type: str) -> None:
    for field in _fields(load_schema_json(event_type)):
        if field["name"].endswith(("_time", "_at", "_start", "_end")):
            kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
            logical = [k for k in kinds if isinstance(k, dict)]
            assert logical and logical[0]["logicalType"] == "timestamp-millis", field["name"]


def test_patient_record_carries_the_pima_features_and_optional_insulin() -> None:
    fields = {f["name"]: f for f in _fields(load_schema_json("PatientRecord"))}
    for name in (
        "pregnancies",
        "glucose",
        "blood_pressure",
        "skin_thickness",
        "bmi",
        "pedigree",
        "age",
        "request_id",
        "patient_id",
        "source",
    ):
        assert name in fields
    assert fields["insulin"]["type"] == ["null", "double"]
    assert fields["insulin"]["default"] is None


def test_the_alert_enums_are_the_drift_alert_schemas_symbols() -> None:
    """Code and schema name the same kinds, statuses and severities, in the schema's order
    for severity (its rank is the order)."""
    from riskstream.schemas.events import AlertKind, AlertStatus, Severity

    fields = {f["name"]: f["type"] for f in load_schema_json("DriftAlert")["fields"]}
    for name, enum in (("kind", AlertKind), ("status", AlertStatus), ("severity", Severity)):
        assert fields[name]["symbols"] == [member.value for member in enum], name
    assert Severity.NOTICE.rank < Severity.LOW.rank < Severity.MEDIUM.rank
    assert Severity.MEDIUM.rank < Severity.HIGH.rank < Severity.CRITICAL.rank


def test_a_decoded_alert_carries_enum_members() -> None:
    from riskstream.schemas.events import AlertKind, AlertStatus, DriftAlert, Severity

    record = {"kind": "DATA_DRIFT", "status": "FIRING", "severity": "HIGH"}
    fields = dict.fromkeys(DriftAlert._fields(), 0)
    alert = DriftAlert.from_avro({**fields, "feature": None, "resolves_alert_id": None, **record})
    assert alert.kind is AlertKind.DATA_DRIFT and alert.status is AlertStatus.FIRING
    assert alert.severity is Severity.HIGH and alert.severity == "HIGH"
