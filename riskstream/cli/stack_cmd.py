"""``riskstream stack``: the local Kafka + Redis stack."""

from __future__ import annotations

import typer
from rich.table import Table

from riskstream.cli.console import console, echo, fails_cleanly
from riskstream.kafka.admin import ensure_topics
from riskstream.settings import load_settings
from riskstream.stack import stack_down, stack_status, stack_up

app = typer.Typer(help="Start, stop and inspect the local Kafka (KRaft) + Redis stack.")


@app.command("up")
@fails_cleanly
def up(
    timeout: float = typer.Option(120.0, help="Seconds to wait for each service."),
    topics: bool = typer.Option(True, help="Create the catalog's topics once Kafka is up."),
) -> None:
    """Start Kafka and Redis unless running (or configured elsewhere); wait until ready."""
    settings = load_settings()
    stack_up(settings, echo=echo, timeout=timeout)
    if topics:
        states = ensure_topics(settings)
        created = [s.name for s in states if s.created]
        echo(f"topics: {len(states)} in the catalog, {len(created)} created")
    console.print("[green]stack is up[/]")


@app.command("down")
@fails_cleanly
def down() -> None:
    """Stop the processes `stack up` started; leave anything else alone."""
    stopped = stack_down(load_settings(), echo=echo)
    console.print(f"[green]stopped {len(stopped)} process(es)[/]")


@app.command("status")
@fails_cleanly
def status() -> None:
    """What runs, where, and which versions (credentials masked)."""
    settings = load_settings()
    table = Table(title="riskstream stack")
    for column in ("service", "state", "address", "pid", "version", "managed by"):
        table.add_column(column)
    rows = stack_status(settings)
    for row in rows:
        colour = "green" if row.state in ("running", "external") else "red"
        table.add_row(
            row.service,
            f"[{colour}]{row.state}[/]",
            row.address,
            str(row.pid or "-"),
            row.version,
            "riskstream" if row.managed else "you",
        )
    console.print(table)
    if any(row.state not in ("running", "external") for row in rows):
        raise typer.Exit(3)
