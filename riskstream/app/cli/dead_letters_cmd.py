"""``riskstream dead-letters``: the rejected inputs, why, and where they came from."""

from __future__ import annotations

from collections import Counter

import typer
from rich.table import Table

from riskstream.app.cli.output import clock_time, console, echo, fails_cleanly, report_skipped
from riskstream.app.cli.tools_cmd import parse_start
from riskstream.core.settings import load_settings


@fails_cleanly
def dead_letters(
    start: str = typer.Option(
        "beginning", "--from", help="beginning (default), end, epoch ms or ISO time."
    ),
    reason: str | None = typer.Option(
        None, help="Only reasons starting with this, e.g. out_of_range or unknown_request_id."
    ),
    limit: int | None = typer.Option(None, help="Stop after this many."),
    output: str = typer.Option("table", "--format", help="table or jsonl."),
    show_values: bool = typer.Option(
        False,
        "--show-values",
        help="Show each original's content (patient ids and lab values: health data). "
        "Without it, only its size and SHA-256 prefix.",
    ),
) -> None:
    """Read the dead-letter topic: every rejected input with its reason and source
    (topic, partition, offset), then the count per reason."""
    from riskstream.app.tools.dead_letters import read_dead_letters

    if output not in ("table", "jsonl"):
        raise typer.BadParameter("--format is table or jsonl")
    settings = load_settings()
    skipped: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    table = Table(title="dead letters")
    for column in ("rejected at", "processor", "reason", "source", "key", "original"):
        table.add_column(column, overflow="fold")
    rows = read_dead_letters(
        settings,
        parse_start(start),
        reason=reason,
        show_values=show_values,
        limit=limit,
        skipped=skipped,
    )
    try:
        for shown in rows:
            letter = shown.letter
            reasons[letter.reason] += 1
            if output == "jsonl":
                typer.echo(shown.json_line())
                continue
            source = f"{letter.source_topic}/{letter.source_partition}@{letter.source_offset}"
            table.add_row(
                clock_time(letter.event_time),
                letter.processor,
                letter.reason,
                source,
                shown.key,
                shown.value,
            )
    finally:
        report_skipped(skipped, "the dead-letter topic")
    if output == "table":
        console.print(table)
        by_reason = ", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "none"
        echo(f"{sum(reasons.values())} dead letter(s): {by_reason}")
