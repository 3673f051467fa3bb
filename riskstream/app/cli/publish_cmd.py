"""``riskstream publish``: patient records from a file or the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskstream.app.cli.output import console, fails_cleanly
from riskstream.core.errors import ConfigError
from riskstream.core.logs import configure_logging
from riskstream.core.settings import load_settings

# the options, one alias each, so the command reads as what it does
FromFile = Annotated[Path | None, typer.Option("--from", help="CSV or JSONL of records.")]
LabelsFrom = Annotated[
    Path | None,
    typer.Option(
        "--labels-from",
        help="CSV or JSONL of outcomes: request_id, outcome (1/0, yes/no), optional "
        "event_time, patient_id, source.",
    ),
]
Check = Annotated[
    bool,
    typer.Option(
        help="With --from: a dry run. Which rows are valid and why not, each field's missing "
        "share and range against the reference; nothing is sent."
    ),
]
Reference = Annotated[
    Path | None,
    typer.Option(
        help="With --check: compare with this file of records (a clinic's history) instead "
        "of the bundled Pima data."
    ),
]
Simulate = Annotated[
    str | None,
    typer.Option(
        help="Scenario: none, covariate-shift, population-shift, source-drift, "
        "concept-drift, missing-surge, volume-drop, label-delay, drift-demo, "
        "correlation-change."
    ),
]
Count = Annotated[int, typer.Option(help="Simulated records (default: rate x duration, or 1000).")]
Duration = Annotated[float, typer.Option(help="Seconds of simulated traffic.")]
Rate = Annotated[
    float, typer.Option(help="Records per second (0 with --from: as fast as possible).")
]
Labels = Annotated[bool, typer.Option(help="Also publish ground truth after its delay.")]
LabelDelay = Annotated[float, typer.Option(help="Mean label delay in seconds.")]
ShiftAt = Annotated[int, typer.Option(help="Index of the first drifted record.")]
SizeSd = Annotated[float, typer.Option(help="Covariate shift size in standard deviations.")]
Feature = Annotated[
    list[str],
    typer.Option(help="Shifted feature(s) (default: glucose; bmi for correlation-change)."),
]
Ramp = Annotated[int, typer.Option(help="Records over which a shift grows (0: abrupt).")]
MissingRate = Annotated[
    float,
    typer.Option(help="missing-surge: share of each imputable field left empty after the start."),
]
VolumeFactor = Annotated[
    float, typer.Option(help="volume-drop: the rate after the start, as a fraction of --rate.")
]
BaselineMissing = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Gaps as in the training data: each imputable field left empty at its training "
        "rate times this (0: complete records).",
    ),
]
Sources = Annotated[
    int,
    typer.Option(min=1, help="Clinics the records come from, evenly (clinic-0 ... clinic-<N-1>)."),
]
DriftedSource = Annotated[
    int, typer.Option(min=0, help="source-drift: the clinic (0 ... N-1) whose measurements shift.")
]
Seed = Annotated[int, typer.Option(help="Seed of the simulation.")]
AllowInvalid = Annotated[bool, typer.Option(help="Send rows that fail validation anyway.")]


@fails_cleanly
def publish(
    from_file: FromFile = None,
    labels_from: LabelsFrom = None,
    check: Check = False,
    reference: Reference = None,
    simulate: Simulate = None,
    count: Count = 0,
    duration: Duration = 0.0,
    rate: Rate = 50.0,
    labels: Labels = False,
    label_delay: LabelDelay = 0.0,
    shift_at: ShiftAt = 0,
    size_sd: SizeSd = 1.0,
    feature: Feature = [],  # noqa: B006 (typer copies it)
    ramp: Ramp = 0,
    missing_rate: MissingRate = 0.5,
    volume_factor: VolumeFactor = 0.25,
    baseline_missing: BaselineMissing = 1.0,
    sources: Sources = 1,
    drifted_source: DriftedSource = 0,
    seed: Seed = 0,
    allow_invalid: AllowInvalid = False,
) -> None:
    """Publish records keyed by patient id (or outcomes, with --labels-from), with a progress
    bar and a delivery summary."""
    from riskstream.io.kafka.admin import ensure_topics
    from riskstream.producers.publish import publish_file, publish_simulated

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
    with _progress_bar(None if from_file or labels_from else total) as progress:
        if labels_from is not None:
            from riskstream.producers.labels import publish_labels

            summary = publish_labels(settings, labels_from, rate=rate, on_progress=progress)
        elif from_file is not None:
            summary = publish_file(
                settings, from_file, allow_invalid=allow_invalid, rate=rate, on_progress=progress
            )
        else:
            scenario = dict(start=shift_at, features=tuple(feature), size_sd=size_sd, ramp=ramp)
            scenario |= dict(missing_rate=missing_rate, volume_factor=volume_factor)
            scenario |= dict(label_delay_s=label_delay, source=drifted_source)
            how = dict(seed=seed, rate=rate, baseline_missing=baseline_missing, sources=sources)
            records = _simulator(simulate or "none", scenario, how).stream(
                total, int(time.time() * 1000)
            )
            summary = publish_simulated(settings, records, labels=labels, on_progress=progress)
    _print_summary(summary, labels_from is not None)


@contextmanager
def _progress_bar(total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on the console, and the callback that moves it."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("publishing", total=total)
        yield lambda sent: bar.update(task, completed=sent)


def _simulator(name: str, scenario: dict[str, Any], how: dict[str, Any]) -> Any:
    """The simulator of scenario ``name``; a scenario the options do not fit is a ConfigError."""
    from riskstream.producers.simulator import PimaModel, Scenario, Simulator

    try:
        chosen = Scenario.named(name, **scenario)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if chosen.name == "source-drift" and scenario["source"] >= how["sources"]:
        raise ConfigError(
            f"--drifted-source {scenario['source']} needs --sources {scenario['source'] + 1} "
            "or more"
        )
    return Simulator(PimaModel.fit(), chosen, **how)


def _print_summary(summary: Any, labels_from: bool) -> None:
    """The delivery table, the rejected rows and (for labels) their fates; exit 1 if a
    delivery failed."""
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
    _print_rejected(summary.rejected)
    if labels_from:
        print_label_fates(summary)
    if summary.failed:
        console.print(f"[red]{summary.failed} deliveries failed[/]")
        raise typer.Exit(1)


def _print_rejected(rejected: list[tuple[int, str]]) -> None:
    for number, reason in rejected[:50]:
        console.print(f"[yellow]rejected row {number}:[/] {reason}")
    if len(rejected) > 50:
        console.print(f"[yellow]… and {len(rejected) - 50} more rejected rows[/]")


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
    _print_rejected(report.rejected)


def _span(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:g} to {high:g}"
