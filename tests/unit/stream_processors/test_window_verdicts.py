from riskstream.models.monitoring.alerts import drift_alert, retired_alert
from riskstream.models.monitoring.statistics import DriftThresholds, FeatureVerdict
from riskstream.models.monitoring.windows import WindowHistograms
from riskstream.schemas.events import AlertKind, AlertStatus, Severity
from riskstream.stream_processors.window_verdicts import JOINT, KINDS, SCORE, drift_inputs

REFERENCE = {
    "n": 10,
    "features": {"glucose": {"edges": [100.0], "counts": [5, 5]}},
    "score": {"edges": [0.5], "counts": [6, 4]},
}
JOINT_REFERENCE = {"edges": [1.0], "counts": [9, 1], "model": {"features": []}}


def _window(joint: list[int]) -> WindowHistograms:
    return WindowHistograms(3, {"glucose": [1, 2]}, [2, 1], {}, {}, joint=joint)


def test_the_joint_errors_join_the_windows_family_of_tests_when_the_version_has_them() -> None:
    ref, cur = drift_inputs({**REFERENCE, "joint": JOINT_REFERENCE}, _window([1, 2]))
    assert ref[JOINT] == [9, 1] and cur[JOINT] == [1, 2]
    assert set(ref) == {"glucose", SCORE, JOINT}
    # a version stored before joint references: features and score only
    ref, cur = drift_inputs(REFERENCE, _window([]))
    assert set(ref) == set(cur) == {"glucose", SCORE}


def test_a_joint_verdict_is_a_multivariate_alert_about_no_one_feature() -> None:
    verdict = FeatureVerdict(JOINT, 0.31, 0.2, 1e-9, 0.05, True, Severity.HIGH)
    alert = drift_alert(
        "m", "3", verdict, AlertStatus.FIRING, DriftThresholds(), (0, 1), 1000, kind=KINDS[JOINT]
    )
    assert alert.kind == AlertKind.MULTIVARIATE_DRIFT and alert.feature is None
    assert alert.message.startswith("joint distribution entered drift: PSI 0.310")
    glucose = FeatureVerdict("glucose", 0.31, 0.2, 1e-9, 0.05, True, Severity.HIGH)
    alert = drift_alert("m", "3", glucose, AlertStatus.FIRING, DriftThresholds(), (0, 1), 1000)
    assert alert.kind == AlertKind.DATA_DRIFT and alert.feature == "glucose"


def test_a_joint_drift_the_new_version_cannot_judge_is_retired_as_multivariate() -> None:
    alert = retired_alert("m", "4", JOINT, (0, 1), 900, kind=KINDS[JOINT])
    assert alert.kind == AlertKind.MULTIVARIATE_DRIFT and alert.status == AlertStatus.RESOLVED
    assert alert.feature is None and alert.message.startswith("joint distribution left drift")
    assert retired_alert("m", "4", "bmi", (0, 1), 900).feature == "bmi"
