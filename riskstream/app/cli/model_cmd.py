"""``riskstream model``: bootstrap training and the registry's aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from riskstream.app.cli.output import console, echo, fails_cleanly
from riskstream.core.logs import configure_logging
from riskstream.core.settings import Settings, load_settings

app = typer.Typer(help="Train, list, promote and roll back model versions (MLflow registry).")
REASON_HELP = "Why, for the audit topic (and, deciding on a challenger, its tags)."
ACTOR_HELP = "Who acts (default: user@host)."
REPORT_METRICS = ("accuracy", "roc_auc", "f1", "brier", "errors")


@app.command("train")
@fails_cleanly
def train(
    seed: int = typer.Option(0, help="Seed of CV splits and models."),
    publish: bool = typer.Option(True, help="Publish a ModelVersionEvent to model-versions."),
    if_no_champion: bool = typer.Option(
        False, help="Do nothing if the model has a champion already (a deployment's first run)."
    ),
    from_file: Path | None = typer.Option(
        None,
        "--from",
        help="A clinic's own labeled history (CSV or JSONL, in time order; README 'Your own "
        "data'), instead of the bundled Pima data.",
    ),
    label_column: str = typer.Option(
        "outcome", help="With --from: the column of the outcome (1/0, yes/no, true/false)."
    ),
    holdout: float = typer.Option(
        0.25, min=0.05, max=0.9, help="With --from: the newest share of rows that judges."
    ),
) -> None:
    """Bootstrap training on Pima.tr2, or a clinic's history; a table of candidates with CV
    and holdout metrics (for a clinic's history, beside the bundled Pima champion's)."""
    settings = load_settings()
    configure_logging(settings)
    from riskstream.io.kafka.admin import ensure_topics
    from riskstream.models.bootstrap import bootstrap, clinic_set
    from riskstream.models.registry import CHAMPION, Registry

    if if_no_champion:
        champion = Registry(settings).alias_version(CHAMPION)
        if champion is not None:
            echo(f"the champion is version {champion}: nothing to train")
            return
    training = None if from_file is None else clinic_set(from_file, label_column, holdout)
    if publish:  # a new prefix has no topics yet: make them before hours of work, not after
        ensure_topics(settings)
    with console.status("training candidates (stratified 5-fold CV, small grid search)…"):
        report = bootstrap(settings, seed=seed, training=training)
    if publish:
        from riskstream.io.kafka.model_events import publish_model_event

        publish_model_event(settings, report.event)
    console.print(_candidates_table(report, settings.selection_metric))
    result = report.result
    echo(
        f"selected {result.selected.name} by rule {settings.selection_rule}; "
        f"registered version {report.version} (run {report.run_id})"
    )
    colour = "green" if report.alias == "champion" else "yellow"
    console.print(f"[{colour}]{report.alias or 'no alias'}[/]: {report.reason}")


def _candidates_table(report: Any, metric: str) -> Table:
    result, training = report.result, report.training
    trained_on = "Pima.tr2" if training is None or training.bundled else "the other rows"
    holdout = "Pima.te" if training is None else training.holdout_name
    table = Table(
        title=f"candidates (features: {result.pipeline.describe()})",
        caption=f"CV on {trained_on} picks the model and threshold; {holdout} (te) only reports",
    )
    table.add_column("candidate", no_wrap=True)
    table.add_column(f"CV {metric} ± se", justify="right", no_wrap=True)
    table.add_column("thr", justify="right")
    for name in REPORT_METRICS:
        table.add_column(f"te {name.replace('accuracy', 'acc')}", justify="right")

    def figures(test: dict[str, float]) -> list[str]:
        return [f"{test[m]:.0f}" if m == "errors" else f"{test[m]:.3f}" for m in REPORT_METRICS]

    for cand in result.candidates:
        marker = " ◀" if cand.name == result.selected.name else ""
        table.add_row(
            cand.name + marker,
            f"{cand.cv_mean:.3f} ± {cand.cv_std_error:.3f}",
            f"{cand.threshold:.2f}",
            *figures(report.holdout[cand.name]),
        )
    if report.bundled_holdout is not None:
        table.add_row("bundled Pima champion", "-", "-", *figures(report.bundled_holdout))
    return table


@app.command("list")
@fails_cleanly
def list_versions(
    reliability: bool = typer.Option(
        False, help="Also print each version's reliability table (cross-validated)."
    ),
) -> None:
    """Versions, aliases, metrics, calibration (ECE) and lineage."""
    settings = load_settings()
    configure_logging(settings)
    from riskstream.models.registry import Registry
    from riskstream.models.registry_reader import CALIBRATION_TAG, RELIABILITY_TAG

    registry = Registry(settings)
    table = Table(title=f"model {registry.name}")
    for column in (
        "version",
        "aliases",
        "candidate",
        "reason",
        "accuracy",
        "roc_auc",
        "f1",
        "calibration",
        "lineage",
    ):
        table.add_column(column)
    for info in registry.versions():
        m = info.metrics

        def pick(name: str, m: dict[str, float] = m) -> str:
            for prefix in ("test_", "holdout_", "cv_"):
                if prefix + name in m:
                    return f"{m[prefix + name]:.3f} ({prefix[:-1]})"
            return "-"

        table.add_row(
            info.version,
            ",".join(info.aliases) or "-",
            info.tags.get("riskstream.candidate", "-"),
            info.tags.get("riskstream.training_reason", "-"),
            pick("accuracy"),
            pick("roc_auc"),
            pick("f1"),
            info.tags.get(CALIBRATION_TAG, "-"),
            info.tags.get("riskstream.data_lineage", "-"),
        )
    console.print(table)
    if reliability:
        for info in registry.versions():
            console.print(reliability_table(info.version, info.tags.get(RELIABILITY_TAG)))


def reliability_table(version: str, text: str | None) -> Table | str:
    """A version's reliability tag (``lower-upper:n:mean/observed`` per bin) as a table."""
    if not text:
        return f"version {version}: no reliability table (uncalibrated)"
    table = Table(title=f"version {version}: reliability (out-of-fold, calibrated)")
    for column in ("scores", "n", "mean score", "observed rate", "gap"):
        table.add_column(column, justify="right")
    for cell in text.split():
        scores, n, rates = cell.split(":")
        mean, observed = (float(v) for v in rates.split("/"))
        table.add_row(scores, n, f"{mean:.3f}", f"{observed:.3f}", f"{observed - mean:+.3f}")
    return table


@app.command("promote")
@fails_cleanly
def promote(
    version: str = typer.Argument(..., help="Version number to make champion."),
    watch: bool = typer.Option(
        True,
        help="Score the old champion in shadow and roll back if it proves better on live "
        "labels (RISKSTREAM_CANARY_WINDOWS; the trainer's canary watches).",
    ),
    reason: str = typer.Option("manual promotion", help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> None:
    """Move `champion` to VERSION and publish a ModelVersionEvent."""
    from riskstream.app.tools import model_actions

    settings = _settings()
    _done(model_actions.promote(settings, version, actor, reason, watch=watch))


@app.command("rollback")
@fails_cleanly
def rollback(
    reason: str = typer.Option("manual rollback", help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
    to: str | None = typer.Option(None, help="An earlier version (default: the previous one)."),
) -> None:
    """Move `champion` back to the previous champion (or --to an earlier version) and
    publish a ModelVersionEvent."""
    from riskstream.app.tools import model_actions

    _done(model_actions.rollback(_settings(), actor, reason, to=to))


@app.command("challenge")
@fails_cleanly
def challenge(
    version: str = typer.Argument(..., help="Version number to score beside the champion."),
    reason: str = typer.Option("manual challenge", help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> None:
    """Make VERSION the `challenger`: scorers score it in shadow (or serve it to the
    RISKSTREAM_SPLIT share of patients) from the next batch, until a promotion."""
    from riskstream.app.tools import model_actions

    _done(model_actions.challenge(_settings(), version, actor, reason))


@app.command("approve")
@fails_cleanly
def approve(
    version: str = typer.Argument(..., help="The challenger to promote."),
    reason: str = typer.Option(..., help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> None:
    """Approve the challenger VERSION (RISKSTREAM_PROMOTION=manual): it is promoted, and
    watched like any promotion."""
    from riskstream.app.tools import model_actions

    _done(model_actions.decide(_settings(), version, True, actor, reason))


@app.command("reject")
@fails_cleanly
def reject(
    version: str = typer.Argument(..., help="The challenger to turn down."),
    reason: str = typer.Option(..., help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> None:
    """Reject the challenger VERSION: its challenge ends, the champion stays."""
    from riskstream.app.tools import model_actions

    _done(model_actions.decide(_settings(), version, False, actor, reason))


@app.command("retrain")
@fails_cleanly
def retrain(
    reason: str = typer.Option(..., help=REASON_HELP),
    actor: str = typer.Option("", help=ACTOR_HELP),
) -> None:
    """Ask the trainer for a new candidate now (a RetrainRequest with reason MANUAL)."""
    from riskstream.app.tools import model_actions

    _done(model_actions.request_retrain(_settings(), actor, reason))


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings)
    return settings


def _done(done: Any) -> None:
    console.print(f"[green]{done.message}[/]")


@app.command("evidence")
@fails_cleanly
def evidence(
    start: str = typer.Option("beginning", "--from", help="beginning, end, epoch ms or ISO time."),
    alpha: float = typer.Option(0.05, help="Significance level of the paired tests."),
) -> None:
    """Champion against challenger on the labeled records both scored: each one's ROC-AUC
    and accuracy, DeLong's and McNemar's paired tests, and the verdict at ALPHA."""
    settings = load_settings()
    configure_logging(settings)
    from riskstream.app.cli.tools_cmd import parse_start
    from riskstream.app.tools.evidence import read_evidence
    from riskstream.models.monitoring.live_evidence import verdict

    read = read_evidence(settings, parse_start(start))
    echo(
        f"{read.examples} labeled examples read, {read.paired} with both variants' scores"
        + (f", {read.undecodable} undecodable" if read.undecodable else "")
    )
    if not read.evidence:
        echo(
            "no evidence yet: a challenger is scored once the registry has one "
            "(`riskstream model challenge VERSION`) and its records' labels are joined"
        )
        return
    table = Table(title=f"live evidence (paired tests, alpha {alpha})")
    for column in (
        "champion → challenger",
        "labeled (positive)",
        "ROC-AUC",
        "Δ [CI]",
        "DeLong p",
        "accuracy",
        "Δ [CI]",
        "McNemar p",
        "verdict",
    ):
        table.add_column(column)
    for e in read.evidence:
        roc, acc = e.roc_auc, e.accuracy
        table.add_row(
            f"{e.champion_version} → {e.challenger_version}",
            f"{e.n} ({e.positives})",
            f"{roc.a:.3f} → {roc.b:.3f}" if roc else "-",
            f"{roc.difference:+.3f} [{roc.ci_low:+.3f}, {roc.ci_high:+.3f}]" if roc else "-",
            f"{roc.p_value:.3g}" if roc else "-",
            f"{e.champion_accuracy:.3f} → {e.challenger_accuracy:.3f}",
            f"{acc.difference:+.3f} [{acc.ci_low:+.3f}, {acc.ci_high:+.3f}]",
            f"{acc.p_value:.3g}",
            verdict(e, alpha),
        )
    console.print(table)
