"""``riskstream demo``: the product's main job on the local stack.

Today it runs the part of the closed loop that exists: the stack, a bootstrapped champion in
the MLflow registry, and a retrain through the `retrain-requests` topic handled by the
trainer worker. The scorer, joiner, monitor and trigger that close the loop (drift → alert →
retrain → promote → recovery) are the next issues; the demo says so instead of pretending.
"""

from __future__ import annotations

import threading
import time

import typer

from riskstream.cli.console import console, echo, fails_cleanly
from riskstream.logs import configure_logging
from riskstream.settings import load_settings


@fails_cleanly
def demo(
    seed: int = typer.Option(0, help="Seed of training."),
) -> None:
    """Start the stack, bootstrap a champion if none exists, retrain through Kafka."""
    settings = load_settings()
    configure_logging(settings)
    from models.bootstrap import bootstrap
    from models.registry import CHAMPION, Registry
    from models.trainer import Trainer
    from riskstream.kafka.admin import ensure_topics
    from riskstream.kafka.clients import new_id, now_ms, publish_events
    from riskstream.stack import stack_up
    from riskstream.topics import RETRAIN_REQUESTS

    started = time.monotonic()
    echo("[1/4] local stack")
    stack_up(settings, echo=lambda line: echo(f"      {line}"))
    ensure_topics(settings)
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    if champion is None:
        echo("[2/4] no champion: bootstrap training on Pima.tr2 (CV), report on Pima.te")
        report = bootstrap(settings, seed=seed)
        test = report.holdout[report.result.selected.name]
        echo(
            f"      version {report.version} ({report.result.selected.name}): "
            f"Pima.te errors {test['errors']:.0f}/332, ROC-AUC {test['roc_auc']:.3f} — "
            f"{report.reason}"
        )
        champion = registry.alias_version(CHAMPION)
    else:
        echo(f"[2/4] champion is version {champion}")
    if champion is None:
        console.print("[red]no champion could be bootstrapped[/]")
        raise typer.Exit(1)
    echo("[3/4] retrain request through Kafka → trainer worker")
    retrain_id = new_id()
    publish_events(
        settings,
        RETRAIN_REQUESTS.name,
        "RetrainRequest",
        [
            (
                settings.model_name.encode(),
                {
                    "retrain_id": retrain_id,
                    "event_time": now_ms(),
                    "model_name": settings.model_name,
                    "reasons": ["MANUAL"],
                    "alert_ids": [],
                    "range_start": None,
                    "range_end": None,
                    "detail": "riskstream demo",
                },
            )
        ],
    )
    trainer = Trainer(settings, seed=seed)
    worker = threading.Thread(target=trainer.run, kwargs={"max_runs": 1}, daemon=True)
    worker.start()
    worker.join(timeout=300)
    if not trainer.outcomes:
        console.print("[red]the trainer produced no outcome within 300 s[/]")
        raise typer.Exit(1)
    outcome = trainer.outcomes[-1]
    echo(f"      {outcome['status']}: {outcome['reason']}")
    echo(
        "[4/4] closed loop (scorer → joiner → monitor → trigger → promotion → recovery): "
        "not built yet — see the open issues"
    )
    echo(f"done in {time.monotonic() - started:.0f}s; `riskstream model list` shows the registry")
