from riskstream.models.monitoring.sequential import CusumState, Side, Step
from riskstream.schemas.events import AlertKind, Severity
from riskstream.stream_processors.sequential_watch import Alarm, alarm_alerts

STEP = Step(CusumState(up=Side(3.0, 80, 620_000)), 5.1, Severity.HIGH)


def _alarm(subject: str, ahead: bool = True) -> Alarm:
    return Alarm("2", subject, STEP, 1_000, 2_000, ahead)


def test_an_alarm_ahead_of_its_window_fires_once_and_joins_the_shared_state() -> None:
    now: dict[str, str] = {}
    (alert,) = alarm_alerts("m", [_alarm("glucose")], {}, now)
    assert alert.kind == AlertKind.DATA_DRIFT and alert.feature == "glucose"
    assert alert.statistic == "cusum" and alert.value == 3.0 and alert.sample_size == 80
    assert (alert.window_start, alert.window_end) == (1_000, 2_000)
    assert "mean PIT 0.775" in alert.message and now == {"glucose": "HIGH"}
    # already in drift at that severity (from a window, or an earlier alarm): nothing new
    assert alarm_alerts("m", [_alarm("glucose")], {"glucose": "HIGH"}, {"glucose": "HIGH"}) == []


def test_the_score_is_a_score_alert_and_an_alarm_in_a_judged_window_raises_nothing() -> None:
    (score,) = alarm_alerts("m", [_alarm("__score__")], {}, {})
    assert score.kind == AlertKind.SCORE_DRIFT and score.feature is None
    now: dict[str, str] = {}
    assert alarm_alerts("m", [_alarm("bmi", ahead=False)], {}, now) == [] and now == {}
