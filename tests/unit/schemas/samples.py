"""One valid instance of every event type, for codec tests."""

from typing import Any

from riskstream.schemas.events import DriftAlert

T = 1_700_000_000_000

SAMPLES: dict[str, dict[str, Any]] = {
    "PatientRecord": dict(
        request_id="r-1",
        patient_id="p-1",
        source="clinic-a",
        event_time=T,
        pregnancies=2,
        glucose=120.0,
        blood_pressure=70.0,
        skin_thickness=None,
        insulin=None,
        bmi=30.1,
        pedigree=0.5,
        age=33,
    ),
    "Prediction": dict(
        prediction_id="x",
        request_id="r-1",
        patient_id="p-1",
        event_time=T,
        scored_at=T + 5,
        model_name="diabetes-risk",
        model_version="3",
        risk=0.7,
        label=1,
        threshold=0.4,
        latency_ms=4.2,
        features={"glucose": 120.0},
        missing=["bmi"],
        contributions=[{"feature": "glucose", "value": 0.9}],
        source_partition=2,
        source_offset=10,
    ),
    "GroundTruth": dict(
        label_id="l", request_id="r-1", patient_id="p-1", event_time=T, outcome=1, source="c"
    ),
    "LabeledExample": dict(
        example_id="e",
        request_id="r-1",
        patient_id="p-1",
        event_time=T,
        labeled_at=T + 1,
        features={"bmi": 30.0},
        label=1,
        risk=0.6,
        predicted_label=1,
        model_version="1",
        prediction_partition=0,
        prediction_offset=1,
        truth_partition=0,
        truth_offset=2,
    ),
    "DriftAlert": dict(
        alert_id="a",
        event_time=T,
        model_name="m",
        model_version="1",
        kind="DATA_DRIFT",
        status="FIRING",
        severity="HIGH",
        feature="glucose",
        statistic="psi",
        value=0.3,
        threshold=0.25,
        window_start=T,
        window_end=T + 60_000,
        sample_size=500,
        resolves_alert_id=None,
        message="glucose drifted",
    ),
    "RetrainRequest": dict(
        retrain_id="q",
        event_time=T,
        model_name="m",
        reasons=["DRIFT_ALERT"],
        alert_ids=["a"],
        range_start=None,
        range_end=T,
        detail="",
    ),
    "ModelVersionEvent": dict(
        event_id="v",
        event_time=T,
        model_name="m",
        version="2",
        alias="champion",
        previous_version="1",
        status="PROMOTED",
        reason="beat champion",
        metrics={"auc": 0.9},
        run_id="abc",
        lineage={"data": "sha256:..."},
    ),
    "DeadLetter": dict(
        dead_letter_id="d",
        event_time=T,
        processor="scorer",
        reason="wrong_magic_byte",
        detail="not avro",
        source_topic="patient-records",
        source_partition=1,
        source_offset=5,
        original_key=b"k",
        original_value=b"{}",
    ),
}


def drift_alert(**changes: Any) -> DriftAlert:
    """The sample DriftAlert, typed, with ``changes``."""
    return DriftAlert.from_avro({**SAMPLES["DriftAlert"], **changes})
