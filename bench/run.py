"""Run every benchmark, write ``bench/results/<utc time>.json`` and regenerate BENCHMARKS.md.

python -m bench.run            # the full run (`make bench`), about 40 minutes with the soak
python -m bench.run --smoke    # tiny sizes: proves it all runs (CI); numbers mean nothing
python -m bench.run --render bench/results/<file>.json   # BENCHMARKS.md again, measuring nothing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka

from bench.common import NAMESPACES, REPO, Echo, base_settings
from bench.report import render
from riskstream.app.demo_runs import remove_namespaces
from riskstream.app.stack.kafka_broker import pinned_version
from riskstream.core.settings import Settings

RESULTS = REPO / "bench" / "results"
FULL: dict[str, dict[str, Any]] = {
    "throughput": {"records": 50_000, "naive_records": 3_000, "repeats": 3},
    "latency": {"rates": [1000, 5000], "seconds": 60.0},
    "detection": {"scale": 1.0},
    "burst": {"records": 6_000, "without_idle": True},
    "backtest": {"records": 100_000},
    "soak": {"records": 2_000_000, "rate": 3_000.0},
    "swaps": {"rounds": 4},
    "online": {"records": 40_000},
    "estimation": {"records": 40_000, "window": 1_000, "seeds": (13, 14, 15)},
    "segments": {"windows": 60, "clean": 30, "window": 2_000},
    "shadow": {"records": 30_000, "repeats": 3, "rate": 1000, "seconds": 30.0},
    "recovery": {"loops": 3},
    "patient_data": {"records": 20_000, "repeats": 3},
}
SMOKE: dict[str, dict[str, Any]] = {
    "throughput": {"records": 1_000, "naive_records": 100, "repeats": 1},
    "latency": {"rates": [200], "seconds": 5.0},
    "detection": {"scale": 0.02},
    "burst": {"records": 1_000, "without_idle": False},
    "backtest": {"records": 2_000},
    # the smoke reads the trainer's children at once: waiting for its search took CI 39 s
    "soak": {"records": 3_000, "rate": 500.0, "sample_s": 2.0, "search_wait_s": 0.0},
    "swaps": {"rounds": 2, "kinds": ("logistic", "xgboost")},
    "online": {"records": 2_000},
    "estimation": {"records": 6_000, "window": 1_000},
    "segments": {"windows": 4, "clean": 2, "window": 2_000, "sizes": (1.0,)},
    "shadow": {
        "records": 1_000,
        "repeats": 1,
        "rate": 200,
        "seconds": 3.0,
        "latency_of": ("shadow",),
    },
    # a compressed loop: 4 s windows, drift 8 s in (the full run uses the demo's defaults)
    "recovery": {"loops": 1, "drift_at_s": 8.0, "window_s": 4},
    "patient_data": {"records": 500, "repeats": 1},
}


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "kafka": pinned_version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "confluent_kafka": confluent_kafka.version()[0],
    }


def merged(earlier: dict[str, Any], rerun: dict[str, Any], only: set[str]) -> dict[str, Any]:
    """``earlier``'s results with the sections ``only`` taken from ``rerun``; the seconds of
    both runs. A section re-run on another machine than the earlier run's is named with
    that machine's CPU in ``rerun_on`` (a cloud machine can come back on another model)."""
    result = {**earlier, **{k: v for k, v in rerun.items() if k in only}}
    result["seconds"] = earlier["seconds"] + rerun["seconds"]
    rerun_on = dict(earlier.get("rerun_on", {}))
    for section in only:
        here = rerun["machine"]
        if here != earlier["machine"]:
            rerun_on[section] = {"cpu": here["cpu"], "cores": here["cores"]}
        else:
            rerun_on.pop(section, None)
    result.pop("rerun_on", None)
    if rerun_on:
        result["rerun_on"] = rerun_on
    return result


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _measure(
    result: dict[str, Any], base: Settings, sizes: dict[str, Any], only: set[str], echo: Echo
) -> None:
    """Each benchmark in ``only``, its results into ``result`` under its name."""
    with tempfile.TemporaryDirectory(prefix="riskstream-bench-") as tmp:
        work = Path(tmp)
        if "throughput" in only:
            from bench import throughput  # each imported when it runs: --only pays for its own

            echo("== throughput, monitoring overhead, memory")
            result["throughput"] = throughput.measure(base, work, echo, **sizes["throughput"])
        if "latency" in only:
            from bench import latency

            echo("== latency")
            result["latency"] = latency.measure(base, work, echo, **sizes["latency"])
        if "backtest" in only:
            from bench import backtest_speed

            echo("== backtest speed")
            result["backtest"] = backtest_speed.measure(base, work, echo, **sizes["backtest"])
        if "detection" in only:
            from bench import detection

            echo("== drift-detection quality")
            result["detection"] = detection.measure(echo, **sizes["detection"])
        if "burst" in only:
            from bench import burst

            echo("== a burst followed by silence")
            result["burst"] = burst.measure(base, work, echo, **sizes["burst"])
        if "soak" in only:
            from bench import soak

            echo("== soak: worker memory under a long steady stream")
            result["soak"] = soak.measure(base, work, echo, **sizes["soak"])
        if "swaps" in only:
            from bench import model_swaps

            echo("== model swaps: scorer memory over promotions")
            result["swaps"] = model_swaps.measure(base, work, echo, **sizes["swaps"])
        if "online" in only:
            from bench import online_learning

            echo("== online learning: the river learner against the batch champion")
            result["online"] = online_learning.measure(echo, **sizes["online"])
        if "estimation" in only:
            from bench import estimation

            echo("== performance estimated before labels (CBPE) against realized")
            result["estimation"] = estimation.measure(echo, **sizes["estimation"])
        if "segments" in only:
            from bench import segments

            echo("== per-source segments: one clinic's drift, and the others' false alarms")
            result["segments"] = segments.measure(echo, **sizes["segments"])
        if "shadow" in only:
            from bench import shadow

            echo("== a challenger in shadow: the scorer's throughput and latency")
            result["shadow"] = shadow.measure(base, work, echo, **sizes["shadow"])
        if "patient_data" in only:
            from bench import patient_data

            echo("== patient data: pseudonyms and sealed features, per record and in the joiner")
            result["patient_data"] = patient_data.measure(base, work, echo, **sizes["patient_data"])
        if "recovery" in only:
            from bench import recovery

            echo("== time to recovery: the demo's closed loop, phase by phase")
            result["recovery"] = recovery.measure(base, work, echo, **sizes["recovery"])


def run(
    smoke: bool, only: set[str], out_dir: Path, markdown: Path | None, merge: Path | None = None
) -> Path:
    sizes = SMOKE if smoke else FULL
    began = time.monotonic()

    def echo(line: str) -> None:
        print(f"[{time.monotonic() - began:6.0f}s] {line}", flush=True)

    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "smoke" if smoke else "full",
        "machine": machine(),
        "sizes": sizes,
    }
    base = base_settings(echo)
    try:
        _measure(result, base, sizes, only, echo)
    finally:
        removed = remove_namespaces(base, NAMESPACES)
        echo(f"removed the {len(NAMESPACES)} benchmark deployments: {removed[0]} topics")
    result["seconds"] = round(time.monotonic() - began, 1)
    if merge is not None:  # a re-run of some benchmarks completes an earlier run's results
        result = merged(json.loads(merge.read_text()), result, only)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}-{result['mode']}.json"
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    echo(f"results: {path}")
    if markdown is not None:
        markdown.write_text(
            render(result, path.relative_to(REPO) if path.is_relative_to(REPO) else path)
        )
        echo(f"report: {markdown}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; for CI")
    parser.add_argument(
        "--only",
        default="throughput,latency,backtest,detection,burst,soak,swaps,online,estimation,segments,"
        "shadow,recovery,patient_data",
        help="comma-separated: throughput, latency, backtest, detection, burst, soak, swaps, "
        "online, estimation, segments, shadow, recovery, patient_data",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the JSON results")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="write the report here (default: BENCHMARKS.md for a full run, none for smoke)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        default=None,
        help="an earlier results file this run's sections replace or complete",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="measure nothing: write BENCHMARKS.md (or --markdown) from this results file",
    )
    args = parser.parse_args(argv)
    markdown = args.markdown or (None if args.smoke else REPO / "BENCHMARKS.md")
    if args.render is not None:
        source = args.render.resolve()
        shown = source.relative_to(REPO) if source.is_relative_to(REPO) else source
        (markdown or REPO / "BENCHMARKS.md").write_text(
            render(json.loads(source.read_text()), shown)
        )
        return 0
    run(args.smoke, set(args.only.split(",")), args.out, markdown, args.merge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
