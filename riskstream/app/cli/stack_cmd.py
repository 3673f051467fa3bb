"""``riskstream stack``: the local Kafka + Redis stack."""

from __future__ import annotations

import typer
from rich.table import Table

from riskstream.app.cli.output import console, echo, fails_cleanly
from riskstream.app.stack import stack_down, stack_status, stack_up
from riskstream.app.stack.kafka_broker import cluster_bootstrap, local_nodes
from riskstream.core.settings import load_settings
from riskstream.io.kafka.admin import ensure_topics

app = typer.Typer(help="Start, stop and inspect the local Kafka (KRaft) + Redis stack.")


@app.command("up")
@fails_cleanly
def up(
    timeout: float = typer.Option(120.0, help="Seconds to wait for each service."),
    topics: bool = typer.Option(True, help="Create the catalog's topics once Kafka is up."),
    brokers: int = typer.Option(
        0,
        min=0,
        max=5,
        help="Kafka nodes to run: 3 makes a cluster that survives losing one "
        "(default: RISKSTREAM_STACK_BROKERS, 1).",
    ),
    redis_cluster: bool = typer.Option(
        False,
        "--redis-cluster",
        help="Run a Redis Cluster of three masters (default: RISKSTREAM_REDIS_CLUSTER).",
    ),
    with_prometheus: bool = typer.Option(
        False,
        "--with-prometheus",
        help="Also run Prometheus (Debian's package) scraping every worker's /metrics "
        "(default: RISKSTREAM_STACK_PROMETHEUS).",
    ),
) -> None:
    """Start Kafka and Redis unless running (or configured elsewhere); wait until ready."""
    settings = load_settings()
    if brokers:
        settings = settings.model_copy(update={"stack_brokers": brokers})
    if redis_cluster:
        settings = settings.model_copy(update={"redis_cluster": True})
    if with_prometheus:
        settings = settings.model_copy(update={"stack_prometheus": True})
    stack_up(settings, echo=echo, timeout=timeout)
    if settings.stack_brokers > 1 and not settings.kafka_is_external:
        every = cluster_bootstrap(local_nodes(settings)[0].nodes)
        echo(
            f"kafka: clients that must find the cluster with any one node down: "
            f"export RISKSTREAM_KAFKA_BOOTSTRAP={every} RISKSTREAM_STACK_BROKERS="
            f"{settings.stack_brokers} RISKSTREAM_STACK_MANAGED=true"
        )
    if settings.redis_cluster and not settings.redis_is_external:
        echo("redis: workers use the cluster with: export RISKSTREAM_REDIS_CLUSTER=true")
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
