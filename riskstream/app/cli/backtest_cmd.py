"""``riskstream backtest``: score recorded traffic with registered versions and compare."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn
from rich.table import Table

from riskstream.app.cli.output import console, echo, err_console, fails_cleanly
from riskstream.app.cli.tools_cmd import parse_start
from riskstream.core.settings import load_settings


@fails_cleanly
def backtest(
    model: list[str] = typer.Option(
        ["champion"], "--model", help="A version or alias; repeat to compare (--model 2 --model 5)."
    ),
    start: str = typer.Option("beginning", "--from", help="beginning, epoch ms or ISO time."),
    stop: str | None = typer.Option(None, "--to", help="Stop before this time (default: now)."),
    buckets: int = typer.Option(10, min=1, help="Time buckets of the per-bucket metrics."),
    out: Path | None = typer.Option(
        None,
        help="Folder of report.html and summary.json (default: a new folder under "
        "RISKSTREAM_BACKTEST_DIR, where `riskstream ui` lists it).",
    ),
) -> None:
    """Join recorded patient-records to their ground truth, score them with each version, and
    write a self-contained HTML report and a JSON summary ranking the versions."""
    from riskstream.app.tools.backtest import backtest as run_backtest
    from riskstream.app.tools.backtest_report import render_html

    settings = load_settings()
    with Progress(
        SpinnerColumn(), "{task.description}", TimeElapsedColumn(), console=err_console
    ) as progress:
        task = progress.add_task("loading versions", total=None)
        result = run_backtest(
            settings,
            model,
            parse_start(start),
            parse_start(stop) if stop else None,
            buckets,
            progress=lambda stage, n: progress.update(task, description=f"{stage}: {n:,}"),
        )
    if out is None:
        out = settings.backtests / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (out / "report.html").write_text(render_html(result))
    table = Table(title=f"backtest: {result.records:,} labeled records")
    for column in ("rank", "version", "roc_auc", "accuracy", "f1", "brier"):
        table.add_column(column)
    by_version = {v.version: v for v in result.versions}
    for rank, version in enumerate(result.ranking, 1):
        o = by_version[version].overall
        table.add_row(
            str(rank),
            version,
            *(f"{o[m]:.3f}" for m in ("roc_auc", "accuracy", "f1", "brier")),
        )
    console.print(table)
    echo(f"better champion over this period: version {summary['better_champion']}")
    echo(f"report: {out / 'report.html'}; summary: {out / 'summary.json'}")
