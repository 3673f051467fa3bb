from dataclasses import replace

from riskstream.models.monitoring.trigger_policy import (
    TriggerConfig,
    TriggerState,
    on_alert,
    on_labels,
    on_tick,
)
from riskstream.schemas.events import DriftAlert
from tests.unit.schemas.samples import drift_alert

CONFIG = TriggerConfig(
    min_severity="HIGH", label_count=100, cooldown_ms=60_000, schedule_ms=3_600_000
)


def _alert(
    severity: str = "HIGH", status: str = "FIRING", kind: str = "DATA_DRIFT", alert_id: str = "a1"
) -> DriftAlert:
    sample = {"feature": "glucose", "statistic": "psi", "window_start": 5_000}
    return drift_alert(severity=severity, status=status, kind=kind, alert_id=alert_id, **sample)


def test_a_high_drift_alert_requests_a_retrain_from_its_window() -> None:
    decision = on_alert(_alert(), TriggerState(), 10_000, CONFIG)
    assert decision.request is not None
    assert decision.request.reasons == ("DRIFT_ALERT",)
    assert decision.request.alert_ids == ("a1",)
    assert decision.request.range_start == 5_000
    assert decision.state.last_request_ms == 10_000


def test_low_severity_resolutions_and_other_kinds_do_not() -> None:
    for alert in (
        _alert("MEDIUM"),
        _alert(status="RESOLVED"),
        _alert(kind="VOLUME"),
        _alert(kind="MODEL_LOAD", severity="CRITICAL"),
    ):
        assert on_alert(alert, TriggerState(), 10_000, CONFIG).request is None


def test_performance_alerts_say_so() -> None:
    decision = on_alert(_alert(kind="PERFORMANCE", severity="CRITICAL"), TriggerState(), 1, CONFIG)
    assert decision.request is not None and decision.request.reasons == ("PERFORMANCE_DROP",)


def test_an_estimated_drop_retrains_only_when_the_setting_allows() -> None:
    alert = _alert(kind="PERFORMANCE_ESTIMATE", severity="HIGH")
    assert on_alert(alert, TriggerState(), 1, CONFIG).request is None
    allowed = replace(CONFIG, on_estimate=True)
    decision = on_alert(alert, TriggerState(), 1, allowed)
    assert decision.request is not None
    assert decision.request.reasons == ("PERFORMANCE_ESTIMATE",)


def test_one_incident_one_request_within_the_cooldown() -> None:
    first = on_alert(_alert(alert_id="a1"), TriggerState(), 10_000, CONFIG)
    second = on_alert(_alert(alert_id="a2"), first.state, 40_000, CONFIG)
    assert second.request is None and second.absorbed == ["DRIFT_ALERT"]
    later = on_alert(_alert(alert_id="a3"), second.state, 70_001, CONFIG)
    assert later.request is not None and later.request.alert_ids == ("a3",)


def test_label_count_accumulates_and_resets() -> None:
    state = TriggerState(last_request_ms=0)
    decision = on_labels(60, state, 100_000, CONFIG)
    assert decision.request is None and decision.state.labels_since_request == 60
    decision = on_labels(40, decision.state, 100_001, CONFIG)
    assert decision.request is not None and decision.request.reasons == ("LABEL_COUNT",)
    assert decision.request.range_start == 0
    assert decision.state.labels_since_request == 0


def test_schedule_starts_its_clock_then_fires() -> None:
    first = on_tick(TriggerState(), 1_000, CONFIG)
    assert first.request is None and first.state.last_request_ms == 1_000
    assert on_tick(first.state, 1_000 + 3_599_999, CONFIG).request is None
    due = on_tick(first.state, 1_000 + 3_600_000, CONFIG)
    assert due.request is not None and due.request.reasons == ("SCHEDULE",)
    assert on_tick(TriggerState(), 5, TriggerConfig(schedule_ms=0)).state == TriggerState()


def test_a_segment_alert_retrains_only_when_the_setting_allows() -> None:
    alert = replace(_alert(severity="CRITICAL"), segment="clinic-3")
    assert on_alert(alert, TriggerState(), 1, CONFIG).request is None
    decision = on_alert(alert, TriggerState(), 1, replace(CONFIG, on_segment=True))
    assert decision.request is not None and "in clinic-3" in decision.request.detail
