"""``riskstream run``: the workers."""

from __future__ import annotations

import signal
import threading

import typer

from riskstream.cli.console import fails_cleanly
from riskstream.logs import configure_logging
from riskstream.settings import Settings, load_settings

app = typer.Typer(help="Run a riskstream worker until SIGINT/SIGTERM.")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _worker_settings() -> Settings:
    """What every worker does first: read the settings, set up logging, ensure the topics."""
    from riskstream.kafka.admin import ensure_topics

    settings = load_settings()
    configure_logging(settings)
    ensure_topics(settings)
    return settings


@app.command("trainer")
@fails_cleanly
def trainer(
    seed: int = typer.Option(0, help="Seed of CV splits and models."),
    max_runs: int = typer.Option(0, help="Exit after this many training runs (0: never)."),
) -> None:
    """retrain-requests → train, register, promote or not → model-versions."""
    from models.trainer import Trainer

    Trainer(_worker_settings(), seed=seed).run(_stop_on_signals(), max_runs=max_runs or None)


@app.command("scorer")
@fails_cleanly
def scorer(
    instance: str = typer.Option("0", help="Stable id of this scorer (transactional.id)."),
    batch_size: int = typer.Option(500, help="Records per batch and transaction."),
) -> None:
    """patient-records → predictions, exactly once (Kafka transactions)."""
    from stream_processors.scorer import Scorer

    Scorer(_worker_settings(), instance=instance, batch_size=batch_size).run(_stop_on_signals())


@app.command("joiner")
@fails_cleanly
def joiner(
    instance: str = typer.Option("0", help="Stable id of this joiner (transactional.id)."),
) -> None:
    """ground-truth + predictions → labeled-examples (late and unknown labels dead-lettered)."""
    from stream_processors.joiner import Joiner

    Joiner(_worker_settings(), instance=instance).run(_stop_on_signals())


@app.command("monitor")
@fails_cleanly
def monitor() -> None:
    """predictions → windowed drift statistics in Redis → drift-alerts."""
    from stream_processors.monitor import Monitor

    Monitor(_worker_settings()).run(_stop_on_signals())


@app.command("trigger")
@fails_cleanly
def trigger() -> None:
    """drift-alerts + labeled-examples → retrain-requests (with a cooldown)."""
    from stream_processors.trigger import Trigger

    Trigger(_worker_settings()).run(_stop_on_signals())


WORKERS = ("scorer", "joiner", "monitor", "trigger", "trainer")


@app.command("all")
@fails_cleanly
def run_all() -> None:
    """Every worker, each in its own process; stops them all on SIGINT/SIGTERM or if one dies."""
    import subprocess
    import sys

    _worker_settings()
    stop = _stop_on_signals()
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "riskstream.cli.main", "run", name])
        for name in WORKERS
    }
    try:
        while not stop.wait(1.0):
            dead = [name for name, proc in procs.items() if proc.poll() is not None]
            if dead:
                typer.echo(f"worker(s) exited: {', '.join(dead)}; stopping the others", err=True)
                raise typer.Exit(1)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
