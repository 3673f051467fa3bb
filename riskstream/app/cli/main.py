"""Entry point of the ``riskstream`` console script."""

from __future__ import annotations

import typer
from rich.table import Table

from riskstream import __version__
from riskstream.app.cli import model_cmd, run_cmd, stack_cmd
from riskstream.app.cli.backtest_cmd import backtest
from riskstream.app.cli.dead_letters_cmd import dead_letters
from riskstream.app.cli.demo_cmd import demo
from riskstream.app.cli.forget_cmd import forget
from riskstream.app.cli.output import console, echo, fails_cleanly
from riskstream.app.cli.publish_cmd import publish
from riskstream.app.cli.tools_cmd import predictions, replay, watch
from riskstream.app.cli.ui_cmd import ui
from riskstream.core.settings import load_settings
from riskstream.core.topics import CATALOG, DAY_MS, check_retention_days, retention_ms
from riskstream.io.kafka.admin import ensure_topics

app = typer.Typer(
    help="riskstream: score patient records on Kafka, watch drift, retrain, promote.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold patient data or secrets
)
app.add_typer(stack_cmd.app, name="stack")
app.add_typer(model_cmd.app, name="model")
app.add_typer(run_cmd.app, name="run")
topics_app = typer.Typer(help="The topic catalog.")
app.command("demo")(demo)
app.command("publish")(publish)
app.command("predictions")(predictions)
app.command("watch")(watch)
app.command("replay")(replay)
app.command("dead-letters")(dead_letters)
app.command("forget")(forget)
app.command("backtest")(backtest)
app.command("ui")(ui)
app.add_typer(topics_app, name="topics")


@app.command("config")
def config() -> None:
    """Print the effective settings, with credentials masked."""
    table = Table(title="riskstream settings")
    table.add_column("setting")
    table.add_column("value")
    for key, value in load_settings().display().items():
        table.add_row(key, value)
    console.print(table)


@app.command("version")
def version() -> None:
    """Print riskstream's version."""
    echo(__version__)


@topics_app.command("list")
@fails_cleanly
def topics_list() -> None:
    """Print the catalog: names (with this deployment's prefix), keys, schemas, retention."""
    settings = load_settings()
    check_retention_days(settings.topic_retention_days)
    table = Table(title="topic catalog")
    for column in ("topic", "key", "value schema", "partitions", "cleanup", "retention", "role"):
        table.add_column(column)
    for entry in CATALOG:
        days = retention_ms(entry, settings.topic_retention_days) / DAY_MS
        retention = "-" if entry.cleanup_policy == "compact" else f"{days:g} d"
        if entry.name in settings.topic_retention_days:
            retention += " (set)"  # RISKSTREAM_TOPIC_RETENTION_DAYS, over the catalog's
        table.add_row(
            settings.topic(entry.name),
            entry.key,
            entry.value_schema,
            str(entry.partitions or settings.topic_partitions),
            entry.cleanup_policy,
            retention,
            entry.doc,
        )
    console.print(table)


@topics_app.command("create")
@fails_cleanly
def topics_create() -> None:
    """Create the catalog's topics (idempotent); report any whose layout differs."""
    for state in ensure_topics(load_settings()):
        echo(
            f"{state.name}: {'created' if state.created else 'exists'} "
            f"({state.partitions} partitions)"
        )


if __name__ == "__main__":
    app()
