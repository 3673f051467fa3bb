"""``riskstream run``: the workers."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import typer

from riskstream.app.cli.output import fails_cleanly
from riskstream.core.logs import configure_logging
from riskstream.core.settings import Settings, load_settings
from riskstream.core.worker_slices import (
    ChampionSettings,
    LabelJoinerSettings,
    MonitoringSettings,
    NotifierSettings,
    OnlineLearnerSettings,
    RetrainTriggerSettings,
)
from riskstream.io.ops import WORKERS, WorkerMetrics, ops_port_of, serve_ops

log = logging.getLogger(__name__)
app = typer.Typer(help="Run a riskstream worker until SIGINT/SIGTERM.")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


OPS_PORT_HELP = (
    "Port of /health, /ready and /metrics (default: RISKSTREAM_OPS_PORT + the "
    "worker's place in `run all`; 0: off)."
)


class _Worker(Protocol):
    metrics: WorkerMetrics

    def run(self, stop: threading.Event) -> object: ...


def _run(
    build: Callable[[Settings], _Worker], ops_port: int | None, *, off_hot_path: bool = False
) -> None:
    """Build the worker from its slice of the settings, serve its ops endpoints, and run it
    until SIGINT/SIGTERM. A worker ``off_hot_path`` (the monitors) first lowers its CPU
    priority (RISKSTREAM_MONITOR_CPU_PRIORITY), before it starts a thread (each inherits it)."""
    settings = _worker_settings(off_hot_path)
    worker = build(settings)
    name = worker.metrics.processor
    if ops_port is None:
        ops_port = ops_port_of(settings.ops_port, name)
    server = serve_ops(worker.metrics, settings.ops_host, ops_port) if ops_port else None
    try:
        worker.run(_stop_on_signals())
    finally:
        if server is not None:
            server.close()


IDLE_NICE, LOW_NICE = 19, 10  # where SCHED_IDLE is missing; and the `low` priority


def lower_priority(priority: str) -> None:
    """Lower this process's CPU priority (RISKSTREAM_MONITOR_CPU_PRIORITY), in every thread
    it has: on Linux a priority is per thread, and the threads started on import (numpy's BLAS
    pool) keep theirs; threads started later inherit it.

    ``idle`` is SCHED_IDLE, not nice 19: beside the scorer on two cores, a busy process at
    nice 19 still cost it 10% of its throughput, the same process under SCHED_IDLE 1% (so the
    cost is the scheduler's, not the cores' shared by the hardware)."""
    if priority == "normal":
        return
    low = priority == "low"
    idle = not low and hasattr(os, "SCHED_IDLE")
    tasks = Path("/proc/self/task")
    threads = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    try:
        for tid in threads:
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                if idle:
                    os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
                else:
                    nice = LOW_NICE if low else IDLE_NICE
                    nice = max(os.getpriority(os.PRIO_PROCESS, tid), nice)
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
    except PermissionError as exc:  # a sandbox that forbids it: the worker runs as started
        log.warning(
            "could not lower the CPU priority (%s): running as started; set "
            "RISKSTREAM_MONITOR_CPU_PRIORITY=normal to skip this",
            exc,
        )


def _worker_settings(off_hot_path: bool = False) -> Settings:
    """What every worker does first: read the settings, lower its priority if it is
    ``off_hot_path`` (before any thread, librdkafka's too, is started), set up logging,
    ensure the topics."""
    from riskstream.io.kafka.admin import ensure_topics

    settings = load_settings()
    if off_hot_path:
        lower_priority(settings.monitor_cpu_priority)
    configure_logging(settings)
    ensure_topics(settings)
    return settings


@app.command("trainer")
@fails_cleanly
def trainer(
    seed: int = typer.Option(0, help="Seed of CV splits and models."),
    max_runs: int = typer.Option(0, help="Exit after this many training runs (0: never)."),
    ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP),
) -> None:
    """retrain-requests → train, register, promote or not → model-versions."""
    from riskstream.stream_processors.trainer import Trainer

    _run(
        lambda s: Trainer(s.slice(MonitoringSettings), seed=seed, max_runs=max_runs or None),
        ops_port,
    )


@app.command("learner")
@fails_cleanly
def learner(
    seed: int = typer.Option(0, help="Seed of the bootstrap fit's example order."),
    ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP),
) -> None:
    """labeled-examples → a river model that predicts, then learns, each example →
    snapshots in MLflow (alias `online`)."""
    from riskstream.stream_processors.online_learner import Learner

    _run(lambda s: Learner(s.slice(OnlineLearnerSettings), seed=seed), ops_port)


@app.command("scorer")
@fails_cleanly
def scorer(
    instance: str = typer.Option("0", help="Stable id of this scorer (transactional.id)."),
    batch_size: int = typer.Option(
        1000, help="Records per batch and transaction (up to 5x that under a backlog)."
    ),
    processes: int = typer.Option(
        1,
        min=1,
        help="Scorer processes in one consumer group, each with its own transactional.id "
        "(INSTANCE-0, INSTANCE-1, ...): one per core, and no more than the topic's partitions.",
    ),
    ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP),
) -> None:
    """patient-records → predictions, exactly once (Kafka transactions)."""
    if processes > 1:
        _run_scorer_processes(instance, batch_size, processes, ops_port)
        return
    from riskstream.stream_processors.scorer import Scorer

    _run(
        lambda s: Scorer(s.slice(ChampionSettings), instance=instance, batch_size=batch_size),
        ops_port,
    )


def scorer_processes(
    instance: str, processes: int, ops_port: int | None, first_port: int
) -> list[tuple[str, int]]:
    """(instance, ops port) of each of ``processes`` scorer processes. Instances are distinct
    and stable across restarts, so each keeps its transactional.id and fences its own zombie.
    Ports: ``ops_port``, ``ops_port + 1``, ... when given; else the scorer's default port for
    the first and the ports after every worker's (``run all``) for the others; none when off."""
    if ops_port is not None:
        ports = [ops_port + i if ops_port else 0 for i in range(processes)]
    elif first_port:
        after_workers = first_port + len(WORKERS)
        ports = [ops_port_of(first_port, "scorer")]
        ports += [after_workers + i for i in range(processes - 1)]
    else:
        ports = [0] * processes
    return [(f"{instance}-{i}", port) for i, port in enumerate(ports)]


def _run_scorer_processes(
    instance: str, batch_size: int, processes: int, ops_port: int | None
) -> None:
    """N scorers in one group: the group spreads the partitions over them (a process beyond
    the partition count would idle, so that is refused)."""
    settings = _worker_settings()
    if processes > settings.topic_partitions:
        raise typer.BadParameter(
            f"{processes} processes for {settings.topic_partitions} partitions: the extra ones "
            "would be idle. Use at most RISKSTREAM_TOPIC_PARTITIONS processes",
            param_hint="--processes",
        )
    plan = scorer_processes(instance, processes, ops_port, settings.ops_port)
    stop = _stop_on_signals()  # before the children exist: a SIGTERM now still stops them
    base = [sys.executable, "-m", "riskstream.app.cli.main", "run", "scorer"]
    procs = {
        f"scorer {name}": subprocess.Popen(
            [*base, "--instance", name, "--batch-size", str(batch_size), "--ops-port", str(port)]
        )
        for name, port in plan
    }
    _supervise(procs, stop, again=f"riskstream run scorer --processes {processes}")


@app.command("joiner")
@fails_cleanly
def joiner(
    instance: str = typer.Option("0", help="Stable id of this joiner (transactional.id)."),
    ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP),
) -> None:
    """ground-truth + predictions → labeled-examples (late and unknown labels dead-lettered)."""
    from riskstream.stream_processors.joiner import Joiner

    _run(lambda s: Joiner(s.slice(LabelJoinerSettings), instance=instance), ops_port)


@app.command("monitor")
@fails_cleanly
def monitor(ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP)) -> None:
    """predictions + dead-letter → windowed drift, data-quality and volume statistics in
    Redis → drift-alerts."""
    from riskstream.stream_processors.monitor import Monitor

    _run(lambda s: Monitor(s.slice(MonitoringSettings)), ops_port, off_hot_path=True)


@app.command("performance")
@fails_cleanly
def performance(ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP)) -> None:
    """labeled-examples → windowed model metrics and ADWIN on errors → drift-alerts."""
    from riskstream.stream_processors.performance import PerformanceMonitor

    _run(lambda s: PerformanceMonitor(s.slice(MonitoringSettings)), ops_port, off_hot_path=True)


@app.command("trigger")
@fails_cleanly
def trigger(ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP)) -> None:
    """drift-alerts + labeled-examples → retrain-requests (with a cooldown)."""
    from riskstream.stream_processors.trigger import Trigger

    _run(lambda s: Trigger(s.slice(RetrainTriggerSettings)), ops_port)


@app.command("notifier")
@fails_cleanly
def notifier(ops_port: int | None = typer.Option(None, help=OPS_PORT_HELP)) -> None:
    """drift-alerts + model-versions → webhooks (Slack-compatible, HMAC-signed, retried,
    de-duplicated; dead-lettered after the last try)."""
    from riskstream.stream_processors.notifier import Notifier

    _run(lambda s: Notifier(s.slice(NotifierSettings)), ops_port)


@app.command("all")
@fails_cleanly
def run_all() -> None:
    """Every worker, each in its own process (the online learner with
    RISKSTREAM_RUN_LEARNER=true, the notifier when RISKSTREAM_WEBHOOK_URLS names a webhook);
    stops them all on SIGINT/SIGTERM or if one dies."""
    settings = _worker_settings()
    stop = _stop_on_signals()
    optional = {
        "learner": settings.run_learner,
        "notifier": bool(settings.webhooks),
    }
    names = [n for n in WORKERS if optional.get(n, True)]
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "riskstream.app.cli.main", "run", name])
        for name in names
    }
    _supervise(procs, stop, again="riskstream run all")


def _supervise(
    procs: dict[str, subprocess.Popen[bytes]], stop: threading.Event, again: str = ""
) -> None:
    """Wait for ``stop``; if a process dies first, stop the others and exit 1 (a supervisor
    such as systemd or Kubernetes restarts the whole set). Every process is stopped on exit."""
    try:
        while not stop.wait(1.0):
            dead = {name: proc.poll() for name, proc in procs.items() if proc.poll() is not None}
            if dead:
                which = ", ".join(f"{name} (exit code {code})" for name, code in dead.items())
                typer.echo(
                    f"worker(s) exited: {which}; its error is printed above. Stopping the "
                    f"others; fix the cause and run `{again or 'the same command'}` again",
                    err=True,
                )
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
