"""The console's pure shaping: incidents, intervals, series, takeovers, rates, history."""

from __future__ import annotations

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from riskstream.app.console import views
from riskstream.app.console.shapes import (
    DriftMatrix,
    Incident,
    IncidentState,
    LastRetrain,
    PerformanceSeries,
    Rate,
    Takeover,
)
from riskstream.models.monitoring.notifications import subject_key
from riskstream.models.monitoring.performance_stats import window_metrics
from riskstream.schemas.events import (
    AuditEvent,
    DriftAlert,
    ModelVersionEvent,
    PerformanceWindow,
    RetrainRequest,
)
from tests.unit.schemas.samples import SAMPLES


def alert(t: int, status: str = "FIRING", severity: str = "HIGH", **kw: object) -> DriftAlert:
    base = {
        "alert_id": f"a{t}",
        "event_time": t,
        "model_name": "m",
        "model_version": "1",
        "kind": "DATA_DRIFT",
        "status": status,
        "severity": severity,
        "feature": "glucose",
        "statistic": "psi",
        "value": 0.4,
        "threshold": 0.1,
        "segment": None,
        "message": "glucose drifted",
    }
    return DriftAlert.from_avro({**SAMPLES["DriftAlert"], **base, **kw})


def test_a_resolved_alert_closes_its_incident_and_others_stay_active() -> None:
    rows = views.alert_timeline(
        [
            alert(1),
            alert(2, feature="bmi"),
            alert(5, status="RESOLVED", severity="LOW", value=0.02),
        ]
    )
    by_about = {r["about"]: r for r in rows}
    assert by_about["glucose"]["resolved_at"] == 5
    assert by_about["glucose"]["resolved_value"] == 0.02
    assert by_about["bmi"]["resolved_at"] is None
    assert [r["fired_at"] for r in rows] == [2, 1]  # newest first


def test_an_escalation_continues_the_incident_at_its_new_severity() -> None:
    rows = views.alert_timeline([alert(1), alert(3, severity="CRITICAL")])
    assert [(r["severity"], r["resolved_at"]) for r in rows] == [("CRITICAL", None), ("HIGH", 3)]


def test_the_score_is_named_score_and_the_subject_is_the_notifiers() -> None:
    fired = alert(1, kind="SCORE_DRIFT", feature=None)
    (row,) = views.alert_timeline([fired])
    assert row["about"] == "score"
    assert row["subject"] == subject_key(fired)  # what a silence holds back


def test_alert_state_joins_acks_by_id_and_silences_by_subject() -> None:
    (row,) = views.with_alert_state(
        views.alert_timeline([alert(1)]), {"a1": {"actor": "ann"}}, {"m:DATA_DRIFT:glucose:": {}}
    )
    assert row["ack"] == {"actor": "ann"} and row["silence"] == {}


def window(version: str, start: int, accuracy: float, **kw: object) -> PerformanceWindow:
    # squared errors averaging 0.2, their squares 0.08: the Brier score's error is 0.01
    counts = {"n": 400, "tp": 100, "fn": 40, "tn": 200, "fp": 60,
              "brier_u": 80_000_000, "brier_q": 32_000_000}  # fmt: skip
    realized = {k: v for k, v in window_metrics(counts).items() if not math.isnan(v)}
    realized["accuracy"], realized["roc_auc"] = accuracy, 0.8  # no score bins: set by hand
    base = {
        "model_version": version,
        "window_start": start,
        "basis": "REALIZED",
        "variant": "served",
        "segment": None,
        "sample_size": 400,
        "realized": realized,
        "estimated": {"accuracy": 0.7},
    }
    return PerformanceWindow.from_avro({**SAMPLES["PerformanceWindow"], **base, **kw})


def test_performance_series_carry_a_95_interval_per_window() -> None:
    (series,) = views.performance_series([window("1", 20, 0.75), window("1", 10, 0.8)])
    assert series["window_start"] == [10, 20]
    acc = series["accuracy"]
    assert acc["value"] == [0.8, 0.75]
    half = 1.959964 * math.sqrt(0.75 * 0.25 / 400)
    assert acc["low"][1] == pytest.approx(0.75 - half) and acc["high"][1] == pytest.approx(
        0.75 + half
    )
    assert series["roc_auc"]["low"][0] is not None  # Hanley-McNeil from the class counts
    assert series["brier"]["value"] == [pytest.approx(0.2)] * 2
    assert series["brier"]["low"][0] == pytest.approx(0.2 - 1.959964 * 0.01)


def test_series_split_versions_and_variants_and_skip_estimates_and_segments() -> None:
    series = views.performance_series(
        [
            window("1", 10, 0.8),
            window("2", 10, 0.9, variant="shadow"),
            window("1", 10, 0.8, basis="ESTIMATED"),
            window("1", 10, 0.8, segment="clinic-a"),
        ]
    )
    assert [(s["version"], s["variant"]) for s in series] == [("1", "served"), ("2", "shadow")]
    assert all(len(s["window_start"]) == 1 for s in series)


def test_an_interval_needs_a_defined_value_and_a_known_error() -> None:
    assert views.interval("accuracy", float("nan"), {"n": 10}) is None
    assert views.interval("accuracy", 0.5, {"n": 0}) is None
    low, high = views.interval("accuracy", 0.99, {"n": 5})
    assert 0 <= low < 0.99 < high == 1.0  # clipped


def test_takeovers_are_promotions_and_rollbacks_in_order() -> None:
    events = [
        _version_event(5, "ROLLED_BACK", "1", reason="r"),
        _version_event(1, "PROMOTED", "2", reason="p"),
        _version_event(3, "REGISTERED", "3", reason="x"),
    ]
    assert [(t["time"], t["version"]) for t in views.takeovers(events)] == [(1, "2"), (5, "1")]


def test_rates_are_differences_over_time() -> None:
    rates = views.rates([(0.0, 0, 0), (2.0, 200, 100), (2.0, 300, 100), (4.0, 300, 300)])
    assert rates == [
        {"time": 2.0, "in_rps": 100.0, "out_rps": 50.0},
        {"time": 4.0, "in_rps": 0.0, "out_rps": 100.0},
    ]


def test_history_names_the_person_behind_an_action_else_riskstream() -> None:
    events = [
        _version_event(100, "CHALLENGER", "2", reason="gates pass"),
        _version_event(200, "PROMOTED", "2", reason="approved by ann"),
    ]
    audits = [
        _audit(201, "approve", "2", "ann", "ok"),
        _audit(90_000, "approve", "2", "bob", "x"),
    ]
    versions = [{"version": "1"}, {"version": "2"}]
    rows = views.version_rows(versions, events, audits)
    assert [r["version"] for r in rows] == ["2", "1"]
    assert [(h["status"], h["by"], h["why"]) for h in rows[0]["history"]] == [
        ("CHALLENGER", "riskstream (automatic)", "gates pass"),
        ("PROMOTED", "ann", "ok"),
    ]


def _request(at: int, alert_ids: list[str] | None = None) -> RetrainRequest:
    return RetrainRequest.from_avro(
        {
            **SAMPLES["RetrainRequest"],
            "retrain_id": "r1",
            "event_time": at,
            "reasons": ["MANUAL"],
            "detail": "d",
            "alert_ids": alert_ids or [],
        }
    )


def _version_event(
    at: int, status: str, version: str, retrain: str = "", reason: str = "r"
) -> ModelVersionEvent:
    lineage = {"retrain_ids": retrain} if retrain else {}
    return ModelVersionEvent.from_avro(
        {
            **SAMPLES["ModelVersionEvent"],
            "event_time": at,
            "status": status,
            "version": version,
            "reason": reason,
            "lineage": lineage,
        }
    )


def _audit(at: int, action: str, version: str, actor: str, reason: str) -> AuditEvent:
    return AuditEvent.from_avro(
        {**SAMPLES["AuditEvent"], "event_time": at, "action": action, "version": version,
         "actor": actor, "reason": reason}
    )  # fmt: skip


def test_last_retrain_is_pending_until_the_trainer_decides() -> None:
    request = _request(10)
    assert views.last_retrain([request], [])["outcome"] == "PENDING"
    events = [
        _version_event(5, "PROMOTED", "1"),
        _version_event(12, "REGISTERED", "2", "r1"),
        _version_event(15, "CHALLENGER", "2", "r1"),
    ]
    done = views.last_retrain([request], events)
    assert (done["outcome"], done["version"], done["decided_at"]) == ("CHALLENGER", "2", 15)
    assert views.last_retrain([], events) is None


def test_the_last_retrain_is_timed_phase_by_phase() -> None:
    """Decision from the request's first alert, training to REGISTERED, promotion to
    PROMOTED, swap to the last partition carrying the version."""
    request = _request(10_500, ["a1", "a2"])
    alerts = [alert(10_000, alert_id="a2"), alert(9_800, alert_id="a1"), alert(1_000, alert_id="o")]
    events = [
        _version_event(5_000, "PROMOTED", "1"),
        _version_event(13_000, "REGISTERED", "2", "x,r1"),
        _version_event(13_750, "PROMOTED", "2", "x,r1"),
        _version_event(20_000, "PROMOTED", "3", "r9"),  # another retrain's
    ]
    phases = views.last_retrain([request], events, alerts, {"2": 13_900})["phases"]
    assert phases == {"decision": 0.7, "training": 2.5, "promotion": 0.75, "swap": 0.15}
    unseen = views.last_retrain([request], events, alerts, {})["phases"]
    assert unseen["swap"] is None and unseen["training"] == 2.5
    pending = views.last_retrain([request], events[:1], [], {})["phases"]
    assert set(pending.values()) == {None}


def test_drift_matrix_rows_are_features_and_columns_windows_oldest_first() -> None:
    windows = [
        {"start": 20, "version": "1", "n": 9,
         "verdicts": [{"feature": "glucose", "psi": 0.5, "ks": 0.3, "js": 0.1}]},
        {"start": 10, "version": "1", "n": 8,
         "verdicts": [{"feature": "glucose", "psi": 0.01, "ks": 0.02, "js": 0.0},
                      {"feature": "bmi", "psi": 0.02, "ks": 0.03, "js": 0.0}]},
    ]  # fmt: skip
    m = views.drift_matrix(windows)
    assert m["windows"] == [10, 20] and m["features"] == ["bmi", "glucose"]
    assert m["psi"] == [[0.02, None], [0.01, 0.5]]
    assert m["ks"][1] == [0.02, 0.3] and m["sizes"] == [8, 9]


def test_every_view_answers_the_shape_its_route_declares() -> None:
    """FastAPI checks each answer against the route's shape (``shapes.py``): a key missing,
    of another type, or left out of the shape (which FastAPI would drop) fails here first."""
    held = {"a1": {"actor": "ann", "reason": "seen", "time": 3}}
    incidents = views.alert_timeline([alert(1), alert(2, feature="bmi"), alert(5, "RESOLVED")])
    cell = {"feature": "bmi", "psi": 0.1, "ks": 0.2, "js": 0.0, "drifting": False}
    versions = [_version_event(5, "PROMOTED", "1"), _version_event(9, "ROLLED_BACK", "1")]
    answers = [
        (list[Incident], incidents),
        (list[IncidentState], views.with_alert_state(incidents, held, {})),
        (list[PerformanceSeries], views.performance_series([window("1", 10, 0.8)])),
        (list[Takeover], views.takeovers(versions)),
        (LastRetrain, views.last_retrain([_request(10)], versions)),
        (list[Rate], views.rates([(0.0, 0, 0), (2.0, 200, 100)])),
        (
            DriftMatrix,
            views.drift_matrix([{"start": 1, "version": "1", "n": 9, "verdicts": [cell]}]),
        ),
    ]
    for shape, answer in answers:
        assert answer, f"{shape}: the sample made an empty answer, which checks nothing"
        assert TypeAdapter(shape).validate_python(answer) == answer, shape


def test_a_view_that_drifts_from_its_shape_is_caught() -> None:
    (row,) = views.alert_timeline([alert(1)])
    with pytest.raises(ValidationError):
        TypeAdapter(Incident).validate_python({k: v for k, v in row.items() if k != "kind"})
    assert TypeAdapter(Incident).validate_python({**row, "extra": 1}) != {**row, "extra": 1}
