"""Time to recovery: the closed loop `make demo` runs, several times, phase by phase.

Each loop is ``riskstream demo``'s own (``run_loop`` with ``LoopConfig``'s defaults, the
same traffic, rate and drift), in a namespace and MLflow store of its own, with every worker
in one process as the demo runs them. The figures are the medians over the loops that
closed: detection (drift onset → first HIGH+ alert), decision (→ retrain request), training
(→ version registered), promotion (→ PROMOTED), swap (→ the scorer serving it), then the
two bars: after the alert, and in all.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.common import Echo, bench_prefix
from riskstream.app.closed_loop import LoopConfig, run_loop
from riskstream.app.loop_report import PHASE_STEPS, LoopReport, recovery_phases
from riskstream.core.settings import Settings

BARS = {"after alert": 10.0, "training": 8.0, "swap": 1.0, "total": 20.0}  # seconds


def measure(
    base: Settings, work: Path, echo: Echo, loops: int = 3, **config: Any
) -> dict[str, Any]:
    loop_config = LoopConfig(**config)
    runs = []
    for i in range(loops):
        settings = base.model_copy(
            update={
                "topic_prefix": bench_prefix("bench-recovery-"),
                "state_dir": work / "recovery" / str(i),
                "mlflow_tracking_uri": None,
                "log_level": "WARNING",
            }
        )
        echo(f"closed loop {i + 1} of {loops} (the demo's configuration)")
        runs.append(loop_result(run_loop(settings, loop_config, echo=lambda _: None)))
        phases = runs[-1]["phases_s"]
        echo(
            f"  closed={runs[-1]['closed']}: {phases['total']} s in all, "
            f"{phases['after alert']} s after the alert"
        )
    return summary(loop_config, runs)


def loop_result(report: LoopReport) -> dict[str, Any]:
    """One loop's figures, from its report (the demo's test makes them from its own loop)."""
    return {
        "closed": report.closed,
        "missing_steps": report.missing_steps,
        "records": report.records,
        "phases_s": recovery_phases(report),
        "trainer_seconds": report.trainer_seconds,
    }


def summary(loop_config: LoopConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The benchmark's section: the loops' configuration, each loop, the medians."""
    return {
        "config": {
            "rate": loop_config.rate,
            "drift_at_s": loop_config.drift_at_s,
            "window_s": loop_config.window_s,
        },
        "loops": runs,
        "median_s": medians(runs),
    }


def medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each phase's median over the loops that closed (None when none did)."""
    closed = [run["phases_s"] for run in runs if run["closed"]]
    out: dict[str, float | None] = {}
    for name in PHASE_STEPS:
        values = [phases[name] for phases in closed if phases.get(name) is not None]
        out[name] = round(statistics.median(values), 2) if values else None
    return out


def bar_rows(r: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, bar, met) for the report's table of bars."""
    closed = sum(run["closed"] for run in r["loops"])
    rows: list[tuple[str, str, str, bool | None]] = [
        (
            "closed loops (the demo's configuration)",
            f"{closed} of {len(r['loops'])}",
            "all",
            closed == len(r["loops"]),
        )
    ]
    for name, bar in BARS.items():
        value = r["median_s"].get(name)
        shown = "-" if value is None else f"{value:.1f} s"
        rows.append(
            (f"time to recovery: {name} (median)", shown, f"<= {bar:g} s", _within(value, bar))
        )
    return rows


def _within(value: float | None, bar: float) -> bool | None:
    return None if value is None else value <= bar


def table(r: dict[str, Any]) -> list[str]:
    config = r["config"]
    loops = r["loops"]
    rows = [
        f"{len(loops)} loops as `make demo` runs them (`bench/recovery.py`): "
        f"{config['rate']:.0f} records/s, drift {config['drift_at_s']:.0f} s in, "
        f"{config['window_s']} s drift windows, every worker in one process. Seconds of "
        "each phase, from the events' own clocks; the median is over the loops that closed.",
        "",
        "| phase | what | "
        + " | ".join(f"loop {i + 1}" for i in range(len(loops)))
        + " | median |",
        "|---|---|" + "---|" * (len(loops) + 1),
    ]
    for name, what in PHASE_STEPS.items():
        cells = [_seconds(run["phases_s"].get(name)) for run in loops]
        rows.append(
            f"| {name} | {what} | " + " | ".join(cells) + f" | {_seconds(r['median_s'][name])} |"
        )
    rows += ["", "Where the training phase went, per loop (the trainer's own stopwatch):", ""]
    rows += [f"- loop {i + 1}: {run['trainer_seconds'] or '-'}" for i, run in enumerate(loops)]
    failed = [(i, run) for i, run in enumerate(loops) if not run["closed"]]
    rows += [
        f"- loop {i + 1} did not close: {'; '.join(run['missing_steps'])}" for i, run in failed
    ]
    return rows


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
