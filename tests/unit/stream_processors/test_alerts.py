"""How an alert names what it is about, for the demo's timeline and summary."""

from stream_processors.alerts import alert_event, alert_subject


def _alert(kind: str, feature: str | None, statistic: str = "psi") -> dict:
    return alert_event(
        "m",
        "1",
        kind=kind,
        status="FIRING",
        severity="HIGH",
        statistic=statistic,
        value=0.4,
        threshold=0.25,
        window=(0, 1),
        sample_size=500,
        message="msg",
        feature=feature,
    )


def test_a_feature_alert_names_its_feature() -> None:
    assert alert_subject(_alert("DATA_DRIFT", "glucose")) == "glucose"


def test_a_score_alert_names_the_score_and_others_their_kind() -> None:
    assert alert_subject(_alert("SCORE_DRIFT", None)) == "score"
    assert alert_subject(_alert("VOLUME", None, "volume_ratio")) == "volume"
    assert alert_subject(_alert("CONCEPT_DRIFT", None, "error_rate")) == "concept_drift"
