"""The benchmarks in smoke mode: every one runs end to end on the real stack and writes
well-formed results. Nothing here judges speed (BENCHMARKS.md does, from a full run)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from riskstream.settings import Settings
from tests.integration.conftest import REPO, process_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# about 280 s on a quiet 2-core machine, 330 s on a busy one: 3x and more for a slow day
@pytest.mark.timeout(1200)
def test_every_benchmark_runs_and_writes_well_formed_results(
    stack: Settings, tmp_path: Path
) -> None:
    env = process_env(stack, RISKSTREAM_STATE_DIR=str(tmp_path / "state"))
    markdown = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--smoke",
            "--out",
            str(tmp_path),
            "--markdown",
            str(markdown),
        ],
        env={**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (path,) = tmp_path.glob("*-smoke.json")
    result = json.loads(path.read_text())
    assert result["mode"] == "smoke" and result["machine"]["cores"] >= 1
    t = result["throughput"]
    for name in ("raw", "naive", "riskstream", "faust", "riskstream_monitored"):
        assert t["median_rps"][name] > 0, name
    assert math.isclose(t["ratio_c_over_a"], t["median_rps"]["riskstream"] / t["median_rps"]["raw"])
    assert set(t["peak_rss_mb"]) == {"scorer", "monitor", "performance"}
    (load,) = result["latency"]["loads"].values()
    assert load["received"] == load["sent"] > 0
    assert 0 < load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"] <= load["max_ms"]
    streams = result["detection"]["streams"]
    assert set(streams) == {
        "abrupt 0.5 sd glucose",
        "gradual 1 sd glucose over 20 windows",
        "concept drift",
        "clean control",
        "complete real Pima rows (clean)",
        "after a promotion, same regime",
    }
    promoted = streams["after a promotion, same regime"]
    assert "riskstream drift monitor, training-set reference (before)" in promoted
    burst = result["burst"]
    delay = burst["seconds"]["riskstream, idle partitions"]
    assert delay is not None and 0 < delay <= burst["bound_s"] + 10
    assert streams["clean control"]["always fires"]["false_alarms_per_100k"] == pytest.approx(100.0)
    soak = result["soak"]
    assert soak["samples"] and soak["samples"][-1]["sent"] == soak["records"]
    assert set(soak["samples"][-1]["rss_mb"]) == {
        "scorer", "joiner", "monitor", "performance", "trigger", "trainer"
    }  # fmt: skip
    assert all(mb > 20 for mb in soak["samples"][-1]["rss_mb"].values())
    swaps = result["swaps"]
    assert [v["kind"] for v in swaps["versions"]] == ["logistic", "xgboost"]
    assert [(s["round"], s["kind"]) for s in swaps["swaps"]] == [
        (0, "logistic"), (0, "xgboost"), (1, "logistic"), (1, "xgboost")
    ]  # fmt: skip
    assert all(s["rss_mb"] > s["start_mb"] for s in swaps["swaps"])  # a model is in memory
    online = result["online"]
    for name in ("none", "covariate-shift", "concept-drift"):
        for half in ("first_half", "second_half"):
            scores = online[name][half]
            assert 0.4 < scores["online"]["accuracy"] <= 1 and scores["champion"]["roc_auc"] > 0.4
    estimation = result["estimation"]
    for name in ("none", "population-shift", "covariate-shift", "concept-drift"):
        assert estimation[name]["windows"] >= 3
        for basis in ("reference", "served"):
            errors = estimation[name][basis]["roc_auc"]
            assert 0 <= errors["mean_abs"] <= errors["max_abs"] < 0.5
    run = result["segments"]["runs"]["1.0"]
    assert run["delay_windows"] is not None and run["clinic_windows_judged"] == 16
    shadow = result["shadow"]
    assert set(shadow["median_rps"]) == {"raw", "alone", "shadow", "split"}
    assert all(rate > 0 for rate in shadow["median_rps"].values())
    (load,) = shadow["latency"].values()  # smoke holds the shadow variant's load only
    assert set(shadow["latency"]) == {"shadow"} and load["received"] == load["sent"] > 0
    recovery = result["recovery"]
    (loop,) = recovery["loops"]
    assert set(loop["phases_s"]) == set(recovery["median_s"]) >= {"detection", "swap", "total"}
    if loop["closed"]:  # the demo's test holds the loop to closing; here it only has to run
        assert recovery["median_s"]["total"] == loop["phases_s"]["total"] > 0
    text = markdown.read_text()
    assert "Time to recovery: the demo's closed loop, phase by phase" in text
    assert "A challenger in shadow: what it costs the scorer" in text
    assert "Per-source segments" in text
    assert "Performance estimated before labels" in text
    assert "| c / a |" in text and "Drift-detection quality" in text
    assert "A burst followed by silence" in text and "Soak: worker memory" in text
    assert "Model swaps: scorer memory over promotions" in text
    assert "Online learning: the river learner against the batch champion" in text
