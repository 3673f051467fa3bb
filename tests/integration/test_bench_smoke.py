"""The benchmarks in smoke mode: every one runs end to end on the real stack and writes
well-formed results and its section of the report. Nothing here judges speed (BENCHMARKS.md
does, from a full run).

One test per group of benchmarks (``bench.run --smoke --only ...``), so that the suite's
workers share them out instead of waiting on one long run.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common import TRAINED_FILE_ENV, bundled_training
from bench.run import SMOKE
from riskstream.core.settings import Settings
from tests.integration.conftest import REPO, process_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Check = Callable[[dict[str, Any]], None]


def _throughput(t: dict[str, Any]) -> None:
    paths = ("raw", "naive", "riskstream", "faust", "quix", "bytewax")
    for name in (*paths, "riskstream_paired", "riskstream_monitored"):
        assert t["median_rps"][name] > 0, name
    pairs = zip(t["runs"]["riskstream_monitored"], t["runs"]["riskstream_paired"], strict=True)
    ratios = [monitored / alone for monitored, alone in pairs]
    assert t["monitoring"]["ratios"] == pytest.approx(ratios)
    assert t["monitoring_ratio"] == pytest.approx(statistics.median(ratios))
    scale = t["scale_out"]
    assert scale["median_rps"]["1"] > 0 and scale["median_rps"]["2"] > 0
    assert math.isclose(
        scale["ratio_2_over_1"], scale["median_rps"]["2"] / scale["median_rps"]["1"]
    )
    assert math.isclose(t["ratio_c_over_a"], t["median_rps"]["riskstream"] / t["median_rps"]["raw"])
    assert set(t["peak_rss_mb"]) == {"scorer", "monitor", "performance"}


def _latency(latency: dict[str, Any]) -> None:
    (load,) = latency["loads"].values()
    assert load["received"] == load["sent"] > 0
    assert 0 < load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"] <= load["max_ms"]


def _backtest(backtest: dict[str, Any]) -> None:
    for name, versions in (("one_version", 1), ("three_versions", 3)):
        run = backtest[name]
        assert run["versions"] == versions and run["records"] == backtest["records"] > 0
        assert run["records_per_second"] > 0


def _detection(detection: dict[str, Any]) -> None:
    streams = detection["streams"]
    assert set(streams) == {
        "abrupt 0.5 sd glucose",
        "gradual 1 sd glucose over 20 windows",
        "concept drift",
        "correlation change (bmi mirrored)",
        "clean control",
        "complete real Pima rows (clean)",
        "after a promotion, same regime",
    }
    promoted = streams["after a promotion, same regime"]
    assert "riskstream drift monitor, training-set reference (before)" in promoted
    for row in streams.values():  # every riskstream detector runs on every stream
        assert {"riskstream sequential (CUSUMs + trend)", "riskstream multivariate (PCA)"} <= set(
            row
        )
    assert streams["clean control"]["always fires"]["false_alarms_per_100k"] == pytest.approx(100.0)
    phases = detection["onset_phases"]  # both detectors at each of 10 onsets on 4 draws
    assert len(phases["offsets"]) == 10 and len(set(phases["seeds"])) == 4
    assert len(phases["sequential"]) == len(phases["adwin"]) == 40
    assert all(delay is not None and delay > 0 for delay in phases["sequential"])
    draws = detection["gradual_draws"]  # both detectors on the ramp's 6 draws
    assert len(draws["seeds"]) == len(draws["sequential"]) == len(draws["adwin"]) == 6


def _burst(burst: dict[str, Any]) -> None:
    delay = burst["seconds"]["riskstream, idle partitions"]
    assert delay is not None and 0 < delay <= burst["bound_s"] + 10


def _soak(soak: dict[str, Any]) -> None:
    assert soak["samples"] and soak["samples"][-1]["sent"] == soak["records"]
    assert set(soak["samples"][-1]["rss_mb"]) == {
        "scorer", "joiner", "monitor", "performance", "trigger", "trainer"
    }  # fmt: skip
    assert all(mb > 20 for mb in soak["samples"][-1]["rss_mb"].values())


def _swaps(swaps: dict[str, Any]) -> None:
    assert [v["kind"] for v in swaps["versions"]] == ["logistic", "xgboost"]
    assert [(s["round"], s["kind"]) for s in swaps["swaps"]] == [
        (0, "logistic"), (0, "xgboost"), (1, "logistic"), (1, "xgboost")
    ]  # fmt: skip
    assert all(s["rss_mb"] > s["start_mb"] for s in swaps["swaps"])  # a model is in memory


def _online(online: dict[str, Any]) -> None:
    for name in ("none", "covariate-shift", "concept-drift"):
        for half in ("first_half", "second_half"):
            scores = online[name][half]
            assert 0.4 < scores["online"]["accuracy"] <= 1 and scores["champion"]["roc_auc"] > 0.4


def _estimation(estimation: dict[str, Any]) -> None:
    for name in ("none", "population-shift", "covariate-shift", "concept-drift"):
        assert estimation[name]["windows"] >= 3
        for basis in ("reference", "served"):
            errors = estimation[name][basis]["roc_auc"]
            assert 0 <= errors["mean_abs"] <= errors["max_abs"] < 0.5
            assert 0 <= estimation[name]["coverage"][basis]["roc_auc"] <= 1
            assert 0 < estimation[name]["interval_width"][basis]["roc_auc"] < 0.5


def _segments(segments: dict[str, Any]) -> None:
    run = segments["runs"]["1.0"]
    assert run["delay_windows"] is not None and run["clinic_windows_judged"] == 16


def _shadow(shadow: dict[str, Any]) -> None:
    assert set(shadow["median_rps"]) == {"raw", "alone", "shadow", "split"}
    assert all(rate > 0 for rate in shadow["median_rps"].values())
    (load,) = shadow["latency"].values()  # smoke holds the shadow variant's load only
    assert set(shadow["latency"]) == {"shadow"} and load["received"] == load["sent"] > 0


def _patient_data(patient: dict[str, Any]) -> None:
    assert set(patient["median_rps"]) == {"raw", "sealed", "unsealed"}
    assert all(rate > 0 for rate in patient["median_rps"].values())
    costs = patient["per_record_us"]
    assert set(costs) == {"pseudonym", "seal_known_patient", "seal_new_patient", "open"}
    assert all(0 < us < 10_000 for us in costs.values())


def check_recovery_section(recovery: dict[str, Any]) -> None:
    (loop,) = recovery["loops"]
    assert set(loop["phases_s"]) == set(recovery["median_s"]) >= {"detection", "swap", "total"}
    if loop["closed"]:  # the demo's test holds the loop to closing; here it only has to run
        assert recovery["median_s"]["total"] == loop["phases_s"]["total"] > 0


RECOVERY_HEADING = "Time to recovery: the demo's closed loop, phase by phase"
# each benchmark: what its results must hold, and the heading of its section in the report
BENCHMARKS: dict[str, tuple[Check, str]] = {
    "throughput": (_throughput, "| c / a (one process) |"),
    "latency": (_latency, "| latency at "),
    "backtest": (_backtest, "| backtest, 1 version(s)"),
    "detection": (_detection, "Drift-detection quality"),
    "burst": (_burst, "A burst followed by silence"),
    "soak": (_soak, "Soak: worker memory"),
    "swaps": (_swaps, "Model swaps: scorer memory over promotions"),
    "online": (_online, "Online learning: the river learner against the batch champion"),
    "estimation": (_estimation, "Performance estimated before labels"),
    "segments": (_segments, "Per-source segments"),
    "shadow": (_shadow, "A challenger in shadow: what it costs the scorer"),
    "recovery": (check_recovery_section, RECOVERY_HEADING),
    "patient_data": (_patient_data, "Patient data: what pseudonyms and sealed features cost"),
}
# groups of about a minute each on a quiet 2-core machine (the pure ones need no broker)
GROUPS = [  # longest first, for the parallel workers
    "shadow",
    "throughput",
    "soak",
    "latency,backtest",
    "burst,swaps,patient_data",
    "detection,online,estimation,segments",
]


# the recovery benchmark is the demo's closed loop, which test_demo.py runs in its full
# configuration: that test makes and renders the section from its loop (about 90 s less here)
ELSEWHERE = {"recovery": "tests/integration/test_demo.py"}


def test_every_benchmark_is_in_one_group() -> None:
    grouped = [name for group in GROUPS for name in group.split(",")]
    covered = sorted([*grouped, *ELSEWHERE])
    assert covered == sorted(BENCHMARKS) == sorted(SMOKE), "a benchmark no test runs"
    assert len(grouped) == len(set(grouped)), "a benchmark run twice"


# 30-60 s each on a quiet 2-core machine: 10x for a slow day beside another test
@pytest.mark.timeout(600)
@pytest.mark.parametrize("group", GROUPS)
def test_each_benchmark_runs_and_writes_well_formed_results(
    stack: Settings, tmp_path: Path, group: str
) -> None:
    trained = tmp_path / "trained.pickle"  # the session's one training, not seven more
    trained.write_bytes(pickle.dumps(bundled_training()))
    env = process_env(
        stack, RISKSTREAM_STATE_DIR=str(tmp_path / "state"), **{TRAINED_FILE_ENV: str(trained)}
    )
    markdown = tmp_path / "BENCHMARKS.md"
    command = ["-m", "bench.run", "--smoke", "--only", group, "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, *command, "--markdown", str(markdown)],
        env={**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = tmp_path.glob("*-smoke.json")
    result = json.loads(path.read_text())
    assert result["mode"] == "smoke" and result["machine"]["cores"] >= 1
    text = markdown.read_text()
    for name in group.split(","):
        check, heading = BENCHMARKS[name]
        check(result[name])
        assert heading in text, f"the report has no section for {name}"
