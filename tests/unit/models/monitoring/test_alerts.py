"""How an alert names what it is about, for the demo's timeline and summary."""

from riskstream.models.monitoring.alerts import alert_subject
from riskstream.schemas.events import DriftAlert
from tests.unit.schemas.samples import drift_alert


def _alert(kind: str, feature: str | None, statistic: str = "psi") -> DriftAlert:
    return drift_alert(kind=kind, feature=feature, statistic=statistic)


def test_a_feature_alert_names_its_feature() -> None:
    assert alert_subject(_alert("DATA_DRIFT", "glucose")) == "glucose"


def test_a_score_alert_names_the_score_and_others_their_kind() -> None:
    assert alert_subject(_alert("SCORE_DRIFT", None)) == "score"
    assert alert_subject(_alert("VOLUME", None, "volume_ratio")) == "volume"
    assert alert_subject(_alert("CONCEPT_DRIFT", None, "error_rate")) == "concept_drift"


def test_transition_fires_on_entry_and_resolves_on_exit() -> None:
    from riskstream.models.monitoring.alerts import transition

    now: dict[str, str] = {}
    assert transition("glucose", True, {}, now, "HIGH") == "FIRING"
    assert now == {"glucose": "HIGH"}
    was = dict(now)
    assert transition("glucose", True, was, now, "HIGH") is None
    assert transition("glucose", False, was, now) == "RESOLVED"
    assert now == {}
    assert transition("bmi", False, {}, now) is None


def test_transition_fires_again_when_an_incident_escalates() -> None:
    """An incident whose first window was only partly drifted fires LOW; when the next
    window is CRITICAL the trigger (which waits for HIGH) must hear of it."""
    from riskstream.models.monitoring.alerts import transition

    was = {"glucose": "LOW"}
    now = dict(was)
    assert transition("glucose", True, was, now, "CRITICAL") == "FIRING"
    assert now == {"glucose": "CRITICAL"}
    was = dict(now)
    # Falling back to MEDIUM while still drifting is the same incident: silent, peak kept.
    assert transition("glucose", True, was, now, "MEDIUM") is None
    assert now == {"glucose": "CRITICAL"}
