from pathlib import Path

import numpy as np
import pytest
import typer
from pydantic import SecretStr

from riskstream.app.cli.tools_cmd import parse_offsets, parse_start
from riskstream.app.tools.alerts import ActiveAlerts, LatestPerformance
from riskstream.app.tools.backtest import BacktestResult, VersionResult, calibration
from riskstream.app.tools.predictions import PredictionFilter
from riskstream.core.pseudonyms import patient_ref
from riskstream.core.slices import ClusterSettings
from riskstream.schemas.events import DriftAlert, PerformanceWindow, Prediction
from tests.unit.schemas.samples import SAMPLES


def test_parse_start() -> None:
    assert parse_start("end") == "end" and parse_start("beginning") == "beginning"
    assert parse_start("1700000000000") == 1_700_000_000_000
    assert parse_start("2026-11-22T06:00:00") == 1_795_327_200_000  # UTC when no zone
    assert parse_start("2026-11-22T07:00:00+01:00") == 1_795_327_200_000
    with pytest.raises(typer.BadParameter):
        parse_start("yesterday")


def test_parse_offsets() -> None:
    assert parse_offsets("0:120,1:98") == {0: 120, 1: 98}
    with pytest.raises(typer.BadParameter):
        parse_offsets("0-120")


def test_prediction_filter_finds_a_patient_by_its_reference_under_any_key(
    tmp_path: Path,
) -> None:
    settings = ClusterSettings(
        state_dir=tmp_path,
        pseudonym_key=SecretStr("new-key"),
        pseudonym_previous_keys=SecretStr("old-key"),
    )
    ref = patient_ref(b"new-key", "p1")
    sample = {**SAMPLES["Prediction"], "patient_ref": ref, "model_version": "2", "risk": 0.4}
    p = Prediction.from_avro(sample)
    assert PredictionFilter().accepts(p)
    assert PredictionFilter.of(settings, "p1", model_version="2", min_risk=0.4).accepts(p)
    assert not PredictionFilter.of(settings, "p2").accepts(p)
    rotated = Prediction.from_avro({**sample, "patient_ref": patient_ref(b"old-key", "p1")})
    assert PredictionFilter.of(settings, "p1").accepts(rotated)  # written before the rotation
    forgotten = settings.model_copy(update={"pseudonym_previous_keys": SecretStr("")})
    assert not PredictionFilter.of(forgotten, "p1").accepts(rotated)
    assert not PredictionFilter(model_version="3").accepts(p)
    assert not PredictionFilter(min_risk=0.41).accepts(p)


def alert(status: str, severity: str = "HIGH", feature: str = "glucose") -> DriftAlert:
    return DriftAlert.from_avro(
        {
            **SAMPLES["DriftAlert"],
            "model_version": "1",
            "kind": "DATA_DRIFT",
            "feature": feature,
            "statistic": "psi",
            "status": status,
            "severity": severity,
            "segment": None,
        }
    )


def test_active_alerts_resolve_and_filter_by_severity() -> None:
    state = ActiveAlerts("MEDIUM")
    state.apply(alert("FIRING"))
    state.apply(alert("FIRING", "LOW", "bmi"))  # below the filter
    assert [a.feature for a in state.active.values()] == ["glucose"]
    state.apply(alert("RESOLVED", "LOW"))  # a resolution matches whatever its severity
    assert state.active == {}


def test_calibration_bins() -> None:
    y = np.array([0, 1, 1, 1])
    risk = np.array([0.05, 0.95, 0.92, 0.5])
    assert calibration(y, risk) == [
        (pytest.approx(0.05), 0.0, 1),
        (pytest.approx(0.5), 1.0, 1),
        (pytest.approx(0.935), 1.0, 2),
    ]


def _version(name: str, auc: float, brier: float) -> VersionResult:
    return VersionResult(name, name, "logistic", {"roc_auc": auc, "brier": brier}, [], {}, [])


def test_ranking_by_metric_then_brier_and_nan_last() -> None:
    result = BacktestResult(0, 1, 1, 10, 0, 0, 1.0, "roc_auc")
    result.versions = [
        _version("1", 0.80, 0.20),
        _version("2", 0.85, 0.22),
        _version("3", 0.85, 0.18),
        _version("4", float("nan"), 0.1),
    ]
    assert result.ranking == ["3", "2", "1", "4"]
    assert result.summary()["better_champion"] == "3"


def test_latest_performance_keeps_a_versions_shadow_window_apart_from_its_served_one() -> None:
    def window(start: int, variant: str, segment: str | None = None) -> PerformanceWindow:
        return PerformanceWindow.from_avro(
            {
                **SAMPLES["PerformanceWindow"],
                "model_version": "2",
                "segment": segment,
                "basis": "REALIZED",
                "variant": variant,
                "window_start": start,
            }
        )

    latest = LatestPerformance()
    for record in (window(0, "served"), window(0, "shadow"), window(1, "shadow")):
        latest.apply(record)
    latest.apply(window(5, "served", "c1"))
    latest.apply(window(3, "served", "c1"))  # older: the newer one stays
    assert {k: v.window_start for k, v in latest.latest.items()} == {
        ("2", "all", "REALIZED"): 0,
        ("2", "all", "SHADOW"): 1,
        ("2", "c1", "REALIZED"): 5,
    }
