"""``riskstream publish``: patient records from a file or the simulator."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskstream.cli.output import console, fails_cleanly
from riskstream.errors import ConfigError
from riskstream.logs import configure_logging
from riskstream.settings import load_settings


@fails_cleanly
def publish(
    from_file: Path | None = typer.Option(None, "--from", help="CSV or JSONL of records."),
    labels_from: Path | None = typer.Option(
        None,
        "--labels-from",
        help="CSV or JSONL of outcomes: request_id, outcome (1/0, yes/no), optional "
        "event_time, patient_id, source.",
    ),
    check: bool = typer.Option(
        False,
        help="With --from: a dry run. Which rows are valid and why not, each field's missing "
        "share and range against the reference; nothing is sent.",
    ),
    reference: Path | None = typer.Option(
        None,
        help="With --check: compare with this file of records (a clinic's history) instead "
        "of the bundled Pima data.",
    ),
    simulate: str | None = typer.Option(
        None,
        help="Scenario: none, covariate-shift, population-shift, source-drift, "
        "concept-drift, missing-surge, volume-drop, label-delay, "
        "drift-demo.",
    ),
    count: int = typer.Option(0, help="Simulated records (default: rate x duration, or 1000)."),
    duration: float = typer.Option(0.0, help="Seconds of simulated traffic."),
    rate: float = typer.Option(
        50.0, help="Records per second (0 with --from: as fast as possible)."
    ),
    labels: bool = typer.Option(False, help="Also publish ground truth after its delay."),
    label_delay: float = typer.Option(0.0, help="Mean label delay in seconds."),
    shift_at: int = typer.Option(0, help="Index of the first drifted record."),
    size_sd: float = typer.Option(1.0, help="Covariate shift size in standard deviations."),
    feature: list[str] = typer.Option(["glucose"], help="Shifted feature(s)."),
    ramp: int = typer.Option(0, help="Records over which a shift grows (0: abrupt)."),
    missing_rate: float = typer.Option(
        0.5, help="missing-surge: share of each imputable field left empty after the start."
    ),
    volume_factor: float = typer.Option(
        0.25, help="volume-drop: the rate after the start, as a fraction of --rate."
    ),
    baseline_missing: float = typer.Option(
        1.0,
        min=0.0,
        help="Gaps as in the training data: each imputable field left empty at its training "
        "rate times this (0: complete records).",
    ),
    sources: int = typer.Option(
        1, min=1, help="Clinics the records come from, evenly (clinic-0 ... clinic-<N-1>)."
    ),
    drifted_source: int = typer.Option(
        0, min=0, help="source-drift: the clinic (0 ... N-1) whose measurements shift."
    ),
    seed: int = typer.Option(0, help="Seed of the simulation."),
    allow_invalid: bool = typer.Option(False, help="Send rows that fail validation anyway."),
) -> None:
    """Publish records keyed by patient id (or outcomes, with --labels-from), with a progress
    bar and a delivery summary."""
    from riskstream.kafka.admin import ensure_topics
    from riskstream.producers.publish import PublishSummary, publish_file, publish_simulated

    settings = load_settings()
    configure_logging(settings)
    if sum(x is not None for x in (from_file, simulate, labels_from)) != 1:
        raise ConfigError(
            "give exactly one of --from FILE, --labels-from FILE and --simulate SCENARIO"
        )
    if check:
        if from_file is None:
            raise ConfigError("--check checks a file of records: give it with --from FILE")
        print_check(from_file, reference)
        return
    ensure_topics(settings)
    total = count or (int(rate * duration) if duration else 1000)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("publishing", total=None if from_file or labels_from else total)

        def progress(sent: int) -> None:
            bar.update(task, completed=sent)

        summary: PublishSummary
        if labels_from is not None:
            from riskstream.producers.labels import publish_labels

            summary = publish_labels(settings, labels_from, rate=rate, on_progress=progress)
        elif from_file is not None:
            summary = publish_file(
                settings, from_file, allow_invalid=allow_invalid, rate=rate, on_progress=progress
            )
        else:
            from riskstream.producers.simulator import PimaModel, Scenario, Simulator

            try:
                scenario = Scenario.named(
                    simulate or "none",
                    start=shift_at,
                    features=tuple(feature),
                    size_sd=size_sd,
                    ramp=ramp,
                    missing_rate=missing_rate,
                    volume_factor=volume_factor,
                    label_delay_s=label_delay,
                    source=drifted_source,
                )
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            sim = Simulator(
                PimaModel.fit(),
                scenario,
                seed=seed,
                rate=rate,
                baseline_missing=baseline_missing,
                sources=sources,
            )
            if scenario.name == "source-drift" and drifted_source >= sources:
                raise ConfigError(
                    f"--drifted-source {drifted_source} needs --sources {drifted_source + 1} "
                    "or more"
                )
            summary = publish_simulated(
                settings,
                sim.stream(total, int(time.time() * 1000)),
                labels=labels,
                on_progress=progress,
            )
    table = Table(title="publish summary")
    for column in ("sent", "labels", "delivered", "failed", "rejected", "sent invalid", "rate /s"):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.sent),
        str(summary.labels_sent),
        str(summary.delivered),
        str(summary.failed),
        str(len(summary.rejected)),
        str(summary.sent_invalid),
        f"{summary.rate:.0f}",
    )
    console.print(table)
    for number, reason in summary.rejected[:50]:
        console.print(f"[yellow]rejected row {number}:[/] {reason}")
    if len(summary.rejected) > 50:
        console.print(f"[yellow]… and {len(summary.rejected) - 50} more rejected rows[/]")
    if labels_from is not None:
        print_label_fates(summary)
    if summary.failed:
        console.print(f"[red]{summary.failed} deliveries failed[/]")
        raise typer.Exit(1)


FATES = {
    "joinable": "their prediction is waiting in the joiner: they join at once",
    "unknown": "no prediction for their request yet: the joiner waits RISKSTREAM_JOINER_GRACE_S "
    "for it, then dead-letters them as unknown_request_id",
    "late": "their prediction expired from the joiner's cache (RISKSTREAM_JOINER_PREDICTION_TTL_S)"
    ": the joiner dead-letters them as late_label",
    "unchecked": "published without a look at the joiner's cache",
}


def print_label_fates(summary: Any) -> None:
    """What becomes of the labels sent: counted by what the joiner holds for them."""
    for fate, count in sorted(summary.label_fates.items()):
        colour = "green" if fate == "joinable" else "yellow"
        console.print(f"[{colour}]{count} label(s)[/]: {FATES[fate]}")
    if summary.unchecked_reason:
        console.print(f"[yellow]the joiner's cache was not checked: {summary.unchecked_reason}[/]")


def print_check(path: Path, reference_file: Path | None) -> None:
    """``--check``: the dry run's report; exits 0 whatever it finds (it judges a file)."""
    import pandas as pd

    from riskstream.producers.file_check import check_file

    if reference_file is None:
        from riskstream.models import data

        parts = [data.load(data.TRAIN_FILE)[0], data.load(data.HOLDOUT_FILE)[0]]
        reference, named = pd.concat(parts, ignore_index=True), "the bundled Pima data"
    else:
        from riskstream.models.clinic_data import load_features

        reference, named = load_features(reference_file), reference_file.name
    report = check_file(path, reference)
    console.print(
        f"{report.rows} rows: {report.valid} valid, {len(report.rejected)} rejected; "
        "nothing was sent"
    )
    for reason, count in report.reasons().most_common():
        console.print(f"  [yellow]{count}[/] rejected: {reason}")
    table = Table(title=f"each field against {named}")
    for column in ("field", "missing", "ref. missing", "range", "ref. range", "outside ref."):
        table.add_column(column, justify="left" if column == "field" else "right")
    for f in report.fields:
        table.add_row(
            f.name,
            f"{f.missing_share:.1%}",
            f"{f.reference_missing_share:.1%}",
            _span(f.low, f.high),
            _span(f.reference_low, f.reference_high),
            str(f.outside_reference),
        )
    console.print(table)
    for hint in report.units.values():
        console.print(f"[yellow]unit:[/] {hint}")
    for number, reason in report.rejected[:50]:
        console.print(f"[yellow]rejected row {number}:[/] {reason}")
    if len(report.rejected) > 50:
        console.print(f"[yellow]… and {len(report.rejected) - 50} more rejected rows[/]")


def _span(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:g} to {high:g}"
