"""``riskstream demo``: the product's main job — the closed loop on the local stack.

Drift → alert → retrain → promote → recovery, with every worker running and the simulator
driving them; see ``riskstream.app.closed_loop``. Exit 0 only when the loop closed.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from riskstream.app.cli.output import console, echo, fails_cleanly
from riskstream.core.logs import configure_logging
from riskstream.core.settings import load_settings

if TYPE_CHECKING:
    from riskstream.app.console.server import ConsoleServer
    from riskstream.app.loop_report import LoopReport
    from riskstream.core.settings import Settings
    from riskstream.schemas.events import DriftAlert


ScenarioName = Annotated[
    str,
    typer.Option(
        help="Simulator scenario (default: an abrupt covariate shift plus a concept change), or "
        "bad-challenger: the drift ends when the retrain is requested, so the retrained version "
        "is worse on live traffic; it must be rejected (--evidence live) or rolled back."
    ),
]
Evidence = Annotated[
    str,
    typer.Option(
        help="How a retrained version is promoted: holdout (on its holdout, then watched by "
        "the canary), or live (a challenger in shadow, promoted on paired live labels)."
    ),
]
Rate = Annotated[float, typer.Option(help="Records per second.")]
Duration = Annotated[
    float,
    typer.Option(
        help="A cap on the seconds of traffic. The demo ends on evidence: once the new "
        "champion's own windows are judged (the drift alerts resolved, or visibly still "
        "firing); a slower machine takes longer, and only this cap ends it sooner."
    ),
]
DriftAt = Annotated[float, typer.Option(help="Seconds into the traffic when drift starts.")]
AfterRecovery = Annotated[
    int,
    typer.Option(
        help="Publish at least this many records after the new champion serves, on top of "
        "the evidence the demo waits for.",
        min=0,
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of the simulation and training.")]
KeepRunning = Annotated[
    bool,
    typer.Option(help="Leave the stack running at the end, and serve the console until Ctrl-C."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


@fails_cleanly
def demo(
    scenario: ScenarioName = "drift-demo",
    evidence: Evidence = "holdout",
    rate: Rate = 100.0,
    duration: Duration = 600.0,
    drift_at: DriftAt = 45.0,
    after_recovery: AfterRecovery = 0,
    seed: Seed = 0,
    keep_running: KeepRunning = False,
    as_json: AsJson = False,
) -> None:
    """Run the closed loop and report each step; exit non-zero naming any step that failed."""
    from riskstream.app.closed_loop import LoopConfig, run_loop
    from riskstream.app.demo_runs import remove_old_runs, run_namespace
    from riskstream.app.stack import stack_down, stack_up
    from riskstream.app.stack.manager import kafka_ready, redis_ready

    if evidence not in ("holdout", "live"):
        raise typer.BadParameter(f"{evidence!r}: choose holdout or live", param_hint="--evidence")
    settings = load_settings()
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}))
    demo_settings = run_namespace(settings)
    was_up = kafka_ready(settings) and redis_ready(settings)
    echo("[1/3] local stack")
    stack_up(settings, echo=lambda line: echo(f"      {line}"))
    remove_old_runs(settings, keep=1, echo=lambda line: echo(f"      {line}"))
    echo(
        "[2/3] workers: scorer, joiner, monitor, trigger, trainer (topic prefix "
        f"{demo_settings.topic_prefix!r})"
    )
    console_server = _start_console(settings, demo_settings)
    config = LoopConfig(
        scenario=scenario,
        evidence=evidence,
        rate=rate,
        duration_s=duration,
        drift_at_s=drift_at,
        seed=seed,
        after_recovery=after_recovery,
    )
    try:
        report = run_loop(demo_settings, config, echo=lambda line: echo(f"      {line}"))
    except BaseException:
        if console_server is not None:
            console_server.stop()
        raise
    finally:
        if not was_up and not keep_running:
            stack_down(settings, echo=lambda line: echo(f"      {line}"))
    echo("[3/3] summary")
    _show(report, demo_settings.topic_prefix, as_json, stack_left_up=keep_running or was_up)
    if console_server is not None:
        if keep_running:
            _serve_until_interrupted(console_server)
        console_server.stop()
    if not report.closed:
        raise typer.Exit(1)


def _show(report: LoopReport, prefix: str, as_json: bool, stack_left_up: bool) -> None:
    """The run's summary (a table, or JSON), then whether the loop closed and what next."""
    from riskstream.core.logs import LIBRDKAFKA_WARNINGS

    summary = _summary(report)
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        _print_summary(summary)
    if LIBRDKAFKA_WARNINGS.count and not as_json:
        echo(
            f"librdkafka warned {LIBRDKAFKA_WARNINGS.count} time(s) (reconnects, retries), not "
            "shown; RISKSTREAM_LOG_LEVEL=DEBUG shows them"
        )
    if not report.closed:
        console.print("[red]the loop did not close: " + "; ".join(report.missing_steps) + "[/]")
    else:
        console.print(f"[green]the loop closed: {_shape(report)}[/]")
        _print_next_steps(prefix, stack_left_up)


def _start_console(settings: Settings, demo_settings: Settings) -> ConsoleServer | None:
    """The console over this run's topics, for as long as the demo runs; None (and a line
    saying why) when its port is taken, say by an earlier demo still kept running."""
    from riskstream.app.cli.ui_cmd import console_url
    from riskstream.app.console.auth import write_token
    from riskstream.app.console.server import ConsoleServer, port_free

    host, port = settings.ui_host, settings.ui_port
    if not port_free(host, port):
        echo(f"      console: port {port} is taken, not started (set RISKSTREAM_UI_PORT)")
        return None
    token, made = write_token(host, settings.ui_token)
    server = ConsoleServer(demo_settings, host, port, token).start()
    shown = token.get_secret_value() if made else None
    echo(f"      console: {console_url(host, port, shown)}")
    return server


def _serve_until_interrupted(server: ConsoleServer) -> None:
    echo(f"the console stays up at {server.base}/overview (the stack too); Ctrl-C stops it")
    server.wait()


def _shape(report: LoopReport) -> str:
    if report.bad_challenger:
        ending = (
            "rejection on live evidence" if report.evidence == "live" else "promotion → rollback"
        )
        return f"drift → alert → retrain → {ending}; the old champion serves"
    middle = (
        "challenger in shadow → promotion on live evidence"
        if report.evidence == "live"
        else "promotion"
    )
    return f"drift → alert → retrain → {middle} → recovery"


def _alert_summary(a: DriftAlert) -> dict[str, Any]:
    from riskstream.models.monitoring.alerts import alert_subject

    return {
        "status": a.status,
        "severity": a.severity,
        "kind": a.kind,
        "feature": a.feature,
        "subject": alert_subject(a),
        "statistic": a.statistic,
        "value": round(a.value, 4),
        "window_start": a.window_start,  # epoch ms
        "window_end": a.window_end,
        "message": a.message,
    }


def _outcome_summary(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": outcome["version"],
        "status": outcome["status"],
        "reason": outcome["reason"],
        "holdout": {
            k.removeprefix("holdout_"): round(v, 4)
            for k, v in outcome["metrics"].items()
            if k.startswith("holdout_")
        },
    }


def _summary(report: LoopReport) -> dict[str, Any]:
    from riskstream.app.loop_report import recovery_phases

    return {
        "scenario": report.scenario,
        "evidence": report.evidence,
        "closed": report.closed,
        "missing_steps": report.missing_steps,
        "records": report.records,
        "throughput_per_s": round(report.records / report.seconds, 1) if report.seconds else 0,
        "alerts": [_alert_summary(a) for a in report.alerts],
        "retrain_requests": [
            {"id": rid, "reasons": list(r.reasons), "detail": r.detail}
            for rid, r in report.requests
        ],
        "old_champion": report.old_version,
        "new_champion": report.new_version,
        "trainer": None if report.outcome is None else _outcome_summary(report.outcome),
        "first_offset_served": {
            v: {"partition": p, "offset": o} for v, (p, o) in report.first_offsets.items()
        },
        "accuracy": {
            name: None if math.isnan(p.accuracy) else round(p.accuracy, 4)
            for name, p in report.phases.items()
        },
        "labeled": {name: p.n for name, p in report.phases.items()},
        "undecodable_labeled_examples": report.undecodable,
        "shadow_accuracy": {
            version: None if math.isnan(p.accuracy) else round(p.accuracy, 4)
            for version, p in report.shadow.items()
        },
        "shadow_labeled": {version: p.n for version, p in report.shadow.items()},
        "challenger": report.challenger,
        "decisions": [
            {"status": d.status, "version": d.version, "reason": d.reason} for d in report.decisions
        ],
        "live_evidence": {k: round(v, 4) for k, v in report.live_evidence().items()},
        "final_champion": report.final_version,
        "time_to_recovery_s": None
        if report.time_to_recovery_s is None
        else round(report.time_to_recovery_s, 1),
        "recovery_phases_s": recovery_phases(report),
        "trainer_seconds": report.trainer_seconds,
    }


def _print_next_steps(prefix: str, stack_left_up: bool) -> None:
    """The run's topics stay until the next demo: say how to look at them."""
    env = f"RISKSTREAM_TOPIC_PREFIX={prefix}"
    echo(f"this run's topics and windows are under the prefix {prefix!r}; to look at them:")
    for command in (
        "riskstream predictions --from beginning",
        "riskstream watch --from beginning",
        "riskstream backtest --help",
        "riskstream ui",
    ):
        echo(f"  {env} .venv/bin/{command}")
    if not stack_left_up:
        echo(
            "  (start the stack first with .venv/bin/riskstream stack up, or run the demo "
            "with --keep-running)"
        )


def _print_summary(summary: dict) -> None:
    table = Table(title="closed loop")
    table.add_column("step")
    table.add_column("result")
    table.add_row(
        "throughput",
        f"{summary['records']} records, {summary['throughput_per_s']}/s offered and scored",
    )
    for alert in summary["alerts"]:
        table.add_row(*_alert_row(alert))
    for request in summary["retrain_requests"]:
        table.add_row("retrain request", f"{'+'.join(request['reasons'])}: {request['detail']}")
    if summary["trainer"]:
        holdout = summary["trainer"]["holdout"]
        table.add_row(
            "new version",
            f"{summary['trainer']['version'] or '-'}: holdout accuracy "
            f"{holdout.get('accuracy')}, ROC-AUC {holdout.get('roc_auc')}, "
            f"F1 {holdout.get('f1')}",
        )
        table.add_row(
            "promotion", f"{summary['trainer']['status']}: {summary['trainer']['reason']}"
        )
    for version, where in summary["first_offset_served"].items():
        table.add_row(
            f"first served by v{version}",
            f"partition {where['partition']} offset {where['offset']}",
        )
    for decision in summary["decisions"]:
        who = "canary" if decision["status"] in ("ROLLED_BACK", "CONFIRMED") else "referee"
        table.add_row(
            f"{who} {decision['status'].lower()}", f"v{decision['version']}: {decision['reason']}"
        )
    for phase, accuracy in summary["accuracy"].items():
        table.add_row(f"accuracy {phase}", f"{accuracy} ({summary['labeled'][phase]} labeled)")
    for version, accuracy in summary["shadow_accuracy"].items():
        table.add_row(
            f"accuracy of {version} in shadow",
            f"{accuracy} ({summary['shadow_labeled'][version]} labeled records it did not serve)",
        )
    table.add_row("champion at the end", f"v{summary['final_champion']}")
    if summary["undecodable_labeled_examples"]:
        table.add_row(
            "skipped",
            f"{summary['undecodable_labeled_examples']} labeled examples that do not decode",
        )
    if summary["time_to_recovery_s"] is not None:
        table.add_row(
            "time to recovery",
            f"{summary['time_to_recovery_s']} s from drift onset to the new champion serving",
        )
    console.print(table)
    _print_phases(summary["recovery_phases_s"], summary["trainer_seconds"])


def _alert_row(alert: dict[str, Any]) -> tuple[str, str]:
    what = (
        alert["message"].split(":")[0]  # the evidence is in the canary's row
        if alert["kind"] == "ROLLBACK"
        else f"{alert['subject']} {alert['statistic']} {alert['value']} (window "
        f"{_clock(alert['window_start'])}-{_clock(alert['window_end'])})"
    )
    return f"alert {alert['status'].lower()}", f"{alert['severity']} {alert['kind']} {what}"


def _print_phases(phases: dict[str, float | None], trainer_seconds: str) -> None:
    """The recovery, phase by phase: where the seconds from drift onset to the new champion
    serving went."""
    from riskstream.app.loop_report import PHASE_STEPS

    table = Table(title="time to recovery, phase by phase")
    table.add_column("phase")
    table.add_column("from → to")
    table.add_column("seconds", justify="right")
    for name, seconds in phases.items():
        shown = "-" if seconds is None else f"{seconds:.1f}"
        steps = PHASE_STEPS.get(name, "")
        if name == "training" and trainer_seconds:
            steps += f" ({trainer_seconds.replace('=', ' ')} s)"
        table.add_row(name, steps, shown)
    console.print(table)


def _clock(epoch_ms: int) -> str:
    """A window bound as a person reads it: local wall-clock time (the epoch is in --json)."""
    from datetime import datetime

    return datetime.fromtimestamp(epoch_ms / 1000).astimezone().strftime("%H:%M:%S")
