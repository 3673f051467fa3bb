import dataclasses

from riskstream.models.monitoring.alerts import alert_event
from riskstream.models.monitoring.pit import PitReference
from riskstream.models.monitoring.sequential import (
    CHANGE,
    DEFAULT,
    CusumState,
    Side,
    Step,
    SubjectState,
    SubjectStep,
)
from riskstream.models.monitoring.trend import TREND, Anchor, TrendState, TrendStep
from riskstream.schemas.events import AlertKind, AlertStatus, DriftAlert, Severity
from riskstream.stream_processors.sequential_watch import (
    Alarm,
    _dump,
    _load,
    alarm_alerts,
    hold_resolutions,
    raised_within,
)

STEP = Step(CusumState(up=Side(3.0, 80, 620_000)), 5.1, Severity.HIGH)


def _alarm(subject: str, ahead: bool = True, baseline: PitReference | None = None) -> Alarm:
    return Alarm("2", subject, SubjectStep(SubjectState(), STEP, baseline), 1_000, 2_000, ahead)


def _trend_alarm(subject: str) -> Alarm:
    """The trend test's alarm: a ramp from the anchor 3,000 values back, now 0.3 sd off."""
    anchor = Anchor(17_000.0, s1=0.3 / 3_000 * 9e9 / 3, q=9e9 / 3)
    state = TrendState(20_000, 100_000_000, 20_000.0, (anchor,), alarmed=True)
    step = TrendStep(state, 5.2, anchor)
    found = SubjectStep(SubjectState(trend=state), None, None, step)
    return Alarm("2", subject, found, 1_000, 2_000, True)


def test_a_trend_alarm_is_a_notice_that_a_cusum_alarm_escalates() -> None:
    now: dict[str, str] = {}
    (notice,) = alarm_alerts("m", [_trend_alarm("glucose")], {}, now)
    assert notice.severity == Severity.NOTICE and notice.statistic == "trend"
    assert notice.value == 5.2 and notice.threshold == TREND.threshold
    assert notice.sample_size == 3_000 and now == {"glucose": "NOTICE"}
    assert "trending up" in notice.message and "0.30 sd" in notice.message, notice.message
    assert "first 20,000 values" in notice.message
    # a subject already at NOTICE or above: nothing new; a CUSUM's HIGH escalates it
    assert alarm_alerts("m", [_trend_alarm("glucose")], {"glucose": "NOTICE"}, {}) == []
    assert alarm_alerts("m", [_trend_alarm("glucose")], {"glucose": "LOW"}, {}) == []
    (escalated,) = alarm_alerts("m", [_alarm("glucose")], {"glucose": "NOTICE"}, {})
    assert escalated.severity == Severity.HIGH


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


def test_an_alarm_against_the_baseline_says_so_with_the_change_tests_threshold() -> None:
    baseline = PitReference((2_500, 7_500), 0.512, 0.0625, 2_040)
    (alert,) = alarm_alerts("m", [_alarm("glucose", baseline=baseline)], {}, {})
    assert "(0.512 in the version's first 2,040 values)" in alert.message, alert.message
    assert alert.threshold == CHANGE.threshold != DEFAULT.threshold
    (against_reference,) = alarm_alerts("m", [_alarm("glucose")], {}, {})
    assert "(0.5 in the reference)" in against_reference.message
    assert against_reference.threshold == DEFAULT.threshold


def test_a_subjects_state_survives_its_round_trip_through_redis_fields() -> None:
    state = SubjectState(
        CusumState(up=Side(1.25, 300, 2_000_000), alarmed=True),
        2_040,
        10_444_000,
        CusumState(down=Side(0.5, 100, 400_000)),
        TrendState(20_000, 99_990_000, 1_020.0, (Anchor(0.0, 0.1 / 3, 1 / 3),), True),
    )
    fields = {str(k): v for k, v in _dump("bmi", state).items()}
    assert _load(fields, "bmi") == state
    assert _load({}, "bmi") == SubjectState()  # a version not judged yet


def _window_alert(kind: AlertKind, status: AlertStatus, feature: str | None) -> DriftAlert:
    return alert_event(
        "m",
        "2",
        kind=kind,
        status=status,
        severity=Severity.LOW,
        statistic="psi",
        value=0.05,
        threshold=0.1,
        window=(0, 10_000),
        sample_size=500,
        message="",
        feature=feature,
    )


def test_alarms_are_found_by_the_window_their_subwindow_starts_in() -> None:
    alarms = {"9000:glucose": "HIGH", "10000:bmi": "LOW", "4000:__score__": "HIGH"}
    assert raised_within(alarms, 0, 10_000) == {"glucose", "__score__"}
    assert raised_within(alarms, 10_000, 20_000) == {"bmi"}
    assert raised_within({}, 0, 10_000) == set()


def test_a_window_does_not_resolve_what_the_test_found_within_it() -> None:
    """The shift began late in the window: its verdict would resolve glucose and the score,
    for the next window to fire them again. They stay in drift; bmi, not held, resolves,
    and an escalation of a held subject still goes out."""
    was = {"glucose": "HIGH", "__score__": "HIGH", "bmi": "LOW", "age": "LOW"}
    now = {"age": "MEDIUM"}  # the window's verdicts dropped the rest
    alerts = [
        _window_alert(AlertKind.DATA_DRIFT, AlertStatus.RESOLVED, "glucose"),
        _window_alert(AlertKind.SCORE_DRIFT, AlertStatus.RESOLVED, None),
        _window_alert(AlertKind.DATA_DRIFT, AlertStatus.RESOLVED, "bmi"),
        _window_alert(AlertKind.DATA_DRIFT, AlertStatus.FIRING, "age"),
    ]
    kept = hold_resolutions(alerts, {"glucose", "__score__", "age"}, was, now)
    assert [(a.feature, a.status) for a in kept] == [
        ("bmi", AlertStatus.RESOLVED),
        ("age", AlertStatus.FIRING),
    ]
    assert now == {"age": "MEDIUM", "glucose": "HIGH", "__score__": "HIGH"}
    # a segment's resolution is its own condition: never held
    segment = dataclasses.replace(alerts[0], segment="clinic-1")
    assert hold_resolutions([segment], {"glucose"}, was, {}) == [segment]
