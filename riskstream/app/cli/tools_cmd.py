"""``riskstream predictions``, ``watch`` and ``replay``: the ways users read the pipeline."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from riskstream.app.cli.output import (
    clock_time,
    console,
    echo,
    err_console,
    fails_cleanly,
    report_skipped,
)
from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import load_settings
from riskstream.io.kafka.reading import Start
from riskstream.schemas.events import (
    SEVERITIES,
    AlertStatus,
    DriftAlert,
    PerformanceWindow,
    Prediction,
    Severity,
)


def parse_start(text: str) -> Start:
    """``end``, ``beginning``, epoch milliseconds, or an ISO-8601 time (UTC if no zone)."""
    if text in ("end", "beginning"):
        return text
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: use end, beginning, epoch ms or an ISO time like 2026-11-22T06:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_offsets(text: str) -> dict[int, int]:
    """``0:120,1:98``: offsets per partition."""
    try:
        return {int(p): int(o) for p, o in (pair.split(":") for pair in text.split(","))}
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use partition:offset pairs, e.g. 0:120,1:98") from None


@fails_cleanly
def predictions(
    start: str = typer.Option(
        "end", "--from", help="end (default), beginning, epoch ms or ISO time."
    ),
    patient: str | None = typer.Option(
        None, help="Only this patient id (found by its pseudonymous reference)."
    ),
    version: str | None = typer.Option(None, help="Only predictions of this model version."),
    min_risk: float | None = typer.Option(None, help="Only risks at or above this."),
    output: str = typer.Option("table", "--format", help="table or jsonl."),
    limit: int | None = typer.Option(None, help="Stop after this many."),
    follow: bool = typer.Option(False, help="Keep waiting for new predictions."),
) -> None:
    """Read the prediction topic (assign(), no consumer group: the workers are undisturbed)."""
    from riskstream.app.tools.predictions import PredictionFilter, read_predictions

    if output not in ("table", "jsonl"):
        raise typer.BadParameter("--format is table or jsonl")
    settings = load_settings()
    where = PredictionFilter.of(settings, patient, version, min_risk)
    skipped: Counter[str] = Counter()
    rows = read_predictions(settings, parse_start(start), where, limit, follow, skipped)
    try:
        _print_predictions(rows, output, follow)
    finally:
        report_skipped(skipped, "the prediction topic")


def _print_predictions(rows: Iterator[Prediction], output: str, follow: bool) -> None:
    if output == "jsonl":
        for p in rows:
            typer.echo(json.dumps(p.to_avro()))
        return
    table = Table(title="predictions")
    for column in ("event time", "patient ref", "risk", "label", "version", "top contribution"):
        table.add_column(column)
    shown = 0
    for p in rows:
        top = p.contributions[0] if p.contributions else None
        table.add_row(
            clock_time(p.event_time),
            p.patient_ref[:12],
            f"{p.risk:.3f}",
            str(p.label),
            p.model_version,
            f"{top['feature']} {top['value']:+.2f}" if top else "",
        )
        shown += 1
        if follow:
            console.print(table)
            table = Table(show_header=False)
    if not follow:
        console.print(table)
        echo(f"{shown} prediction(s)")


def _alerts_table(active: dict[Any, DriftAlert]) -> Table:
    table = Table(title=f"active alerts ({len(active)})")
    columns = ("since", "severity", "kind", "segment", "subject", "statistic", "value", "version")
    for column in columns:
        table.add_column(column)
    for alert in sorted(active.values(), key=lambda a: -a.severity.rank):
        table.add_row(
            clock_time(alert.event_time),
            alert.severity,
            alert.kind,
            alert.segment or "all",
            alert.feature or "-",
            alert.statistic,
            f"{alert.value:.3f}",
            alert.model_version,
        )
    return table


def _performance_table(latest: dict[tuple[str, str, str], PerformanceWindow]) -> Table:
    table = Table(
        title="performance: latest window (estimated from scores; realized; shadow: a "
        "version's realized metrics on records another version served)"
    )
    for column in ("version", "segment", "basis", "window", "n", "accuracy", "f1", "roc_auc"):
        table.add_column(column)
    for (version, segment, basis), record in sorted(latest.items()):
        table.add_row(
            version,
            segment,
            basis.lower(),
            clock_time(record.window_start),
            str(record.sample_size),
            *(_performance_cell(record, name) for name in ("accuracy", "f1", "roc_auc")),
        )
    return table


def _performance_cell(record: PerformanceWindow, name: str) -> str:
    """``~0.781 [0.752, 0.808]`` for an estimate with its 95% interval; ``0.774 (est
    +0.007)`` for a realized value."""
    if record.basis == "ESTIMATED":
        value = record.estimated.get(name)
        if value is None:
            return "-"
        low, high = record.estimated_low.get(name), record.estimated_high.get(name)
        return f"~{value:.3f}" + (
            "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"
        )
    value, error = record.realized.get(name), record.estimate_error.get(name)
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" (est {error:+.3f})" if error is not None else "")


@fails_cleanly
def watch(
    start: str = typer.Option(
        "end", "--from", help="end (default), beginning, epoch ms or ISO time."
    ),
    min_severity: str = typer.Option("LOW", help="Hide alerts below this severity."),
    exit_on: str | None = typer.Option(
        None, help="Exit 0 as soon as a FIRING alert of this severity or above arrives."
    ),
    timeout: float | None = typer.Option(
        None, help="Give up after this many seconds: exit 1 with --exit-on, else 0."
    ),
) -> None:
    """A live table of the active drift, quality and performance alerts, and of each
    version's latest performance: estimated from scores (CBPE) before labels, realized after."""
    from riskstream.app.tools.alerts import ActiveAlerts

    for name, value in (("--min-severity", min_severity), ("--exit-on", exit_on)):
        if value is not None and value not in SEVERITIES:
            raise typer.BadParameter(f"{name} is one of {', '.join(SEVERITIES)}")
    settings = load_settings()
    state = ActiveAlerts(min_severity)
    deadline = time.monotonic() + timeout if timeout else None
    skipped: Counter[str] = Counter()
    try:
        _watch(settings, state, start, deadline, exit_on, skipped)
    finally:
        report_skipped(skipped, "the drift-alert topic")
    if exit_on is not None:
        err_console.print(f"no {exit_on} or higher alert within {timeout or 0:.0f} s")
        raise typer.Exit(1)


def _watch(
    settings: Any,
    state: Any,
    start: str,
    deadline: float | None,
    exit_on: str | None,
    skipped: Counter[str],
) -> None:
    from rich.console import Group

    from riskstream.app.tools.alerts import LatestPerformance, read_alerts, read_performance

    alerts = read_alerts(settings, parse_start(start), skipped=skipped)
    windows = read_performance(settings, parse_start(start), skipped=skipped)
    performance = LatestPerformance()

    def screen() -> Group:
        return Group(_alerts_table(state.active), _performance_table(performance.latest))

    with Live(screen(), console=console, refresh_per_second=4) as live:
        for source, event in _until(deadline, alerts=alerts, windows=windows):
            if event is None:
                continue
            if source == "windows":
                performance.apply(event)
                live.update(screen())
                continue
            alert = event
            state.apply(alert)
            live.update(screen())
            if (
                exit_on is not None
                and alert.status == AlertStatus.FIRING
                and alert.severity.rank >= Severity(exit_on).rank
            ):
                live.stop()
                echo(f"{alert.severity} {alert.kind}: {alert.message}")
                raise typer.Exit(0)


def _until(deadline: float | None, **streams: Any) -> Any:
    """(name, event) from every stream, merged, until ``deadline``; (None, None) while all
    are quiet (the readers poll, so the deadline is checked between)."""
    import threading
    from queue import Empty, Queue

    queue: Queue[tuple[str, DriftAlert | PerformanceWindow]] = Queue()

    def pump(name: str, events: Any) -> None:
        for event in events:
            queue.put((name, event))

    for name, events in streams.items():
        threading.Thread(target=pump, args=(name, events), daemon=True).start()
    while deadline is None or time.monotonic() < deadline:
        try:
            yield queue.get(timeout=0.25)
        except Empty:
            yield None, None


@fails_cleanly
def replay(
    source: str = typer.Argument(..., help="Topic to copy from (full name, prefix included)."),
    target: str = typer.Argument(..., help="Topic to copy into."),
    start: str = typer.Option("beginning", "--from", help="beginning, end, epoch ms or ISO time."),
    stop: str | None = typer.Option(None, "--to", help="Stop before this time (default: now)."),
    from_offsets: str | None = typer.Option(None, help="Start offsets, e.g. 0:120,1:98."),
    to_offsets: str | None = typer.Option(None, help="Stop offsets (exclusive), e.g. 0:500,1:480."),
    speed: float = typer.Option(0.0, help="1: as recorded, 10: ten times faster, 0: at once."),
) -> None:
    """Copy a range of a topic into another, keeping keys, headers, timestamps and order."""
    from riskstream.app.tools.replay import plan_size
    from riskstream.app.tools.replay import replay as run_replay

    settings = load_settings()
    begin: Start = parse_offsets(from_offsets) if from_offsets else parse_start(start)
    end: Start | None = (
        parse_offsets(to_offsets) if to_offsets else (parse_start(stop) if stop else None)
    )
    total = plan_size(settings, source, begin, end)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task(f"{source} → {target}", total=total)
        report = run_replay(
            settings,
            source,
            target,
            begin,
            end,
            speed,
            on_copy=lambda n: progress.update(task, completed=n),
        )
    left_out = f"; {report.forgotten} of forgotten patients left out" if report.forgotten else ""
    echo(
        f"replayed {report.copied} record(s) in {report.seconds:.1f} s; {report.failed} failed"
        + left_out
    )
    if report.failed:
        raise RiskstreamError(
            f"{report.failed} record(s) were not delivered",
            hint="check the broker log and run the replay again for the missing range",
        )
