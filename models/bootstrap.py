"""Bootstrap training on the shipped Pima data (`riskstream model train`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from riskstream.core.worker_slices import ChampionSettings
from riskstream.models import clinic_data, data
from riskstream.models.features import PIPELINE_VERSION
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry
from riskstream.models.selection import gates_of
from riskstream.models.training import TrainingResult, evaluate_model, train
from riskstream.schemas.events import ModelVersionEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    """What a bootstrap learns from and is judged on: the bundled Pima data (Pima.tr2, then
    Pima.te), or a clinic's own history and its newest rows (``clinic_set``)."""

    raw: pd.DataFrame
    y: pd.Series
    holdout_raw: pd.DataFrame
    holdout_y: pd.Series
    lineage: str  # the data, with its hash
    holdout_name: str  # how a report names the holdout

    @property
    def bundled(self) -> bool:
        return self.lineage.startswith(data.TRAIN_FILE)


def bundled_set() -> TrainingSet:
    raw, y = data.load(data.TRAIN_FILE)
    test_raw, test_y = data.load(data.HOLDOUT_FILE)
    lineage = f"{data.TRAIN_FILE} sha256:{data.sha256(data.TRAIN_FILE)}"
    return TrainingSet(raw, y, test_raw, test_y, lineage, "Pima.te")


def clinic_set(path: Path, label_column: str, holdout_fraction: float = 0.25) -> TrainingSet:
    """A clinic's labeled history (checked by ``clinic_data``); its newest rows (the file's
    last ``holdout_fraction``) judge, the rest trains."""
    raw, y = clinic_data.load_labeled(path, label_column)
    cut = len(raw) - round(len(raw) * holdout_fraction)
    if min(y[:cut].value_counts().min(), y[cut:].value_counts().min()) < 5 or y[cut:].nunique() < 2:
        raise clinic_data.ClinicDataError(
            "the training rows or the holdout lack examples of a class",
            path=str(path),
            holdout=f"the last {len(raw) - cut} of {len(raw)} rows",
            hint="change --holdout, or add labeled history",
        )
    lineage = f"{path.name} sha256:{clinic_data.sha256(path)}"
    name = f"the newest {len(raw) - cut} rows of {path.name}"
    return TrainingSet(
        raw[:cut].reset_index(drop=True),
        y[:cut].reset_index(drop=True),
        raw[cut:].reset_index(drop=True),
        y[cut:].reset_index(drop=True),
        lineage,
        name,
    )


@dataclass
class BootstrapReport:
    result: TrainingResult
    holdout: dict[str, dict[str, float]]  # candidate → holdout metrics (report only)
    version: str
    run_id: str
    alias: str | None
    reason: str
    gate_failures: list[str]
    event: ModelVersionEvent  # for the caller to publish on `model-versions`
    training: TrainingSet | None = None
    # the bundled champion (trained on Pima.tr2) on a clinic's holdout, to compare with
    bundled_holdout: dict[str, float] | None = None


def bootstrap(
    settings: ChampionSettings,
    *,
    seed: int = 0,
    training: TrainingSet | None = None,
    trained: TrainingResult | None = None,
) -> BootstrapReport:
    """Train on Pima.tr2, or a clinic's history (CV picks the candidate and threshold),
    evaluate on the holdout (Pima.te, or the history's newest rows), register the selected
    candidate, and make it champion if it passes the gates on the holdout and no champion
    exists yet. ``trained``: the result of that training, done already (it is deterministic
    for a seed, so a test suite trains once and registers it in each deployment)."""
    training = training or bundled_set()
    metric, rule = settings.selection_metric, settings.selection_rule
    result = trained or train(training.raw, training.y, seed=seed, metric=metric, rule=rule)
    holdout = _holdout_metrics(result, training)
    selected = result.selected
    # The gates are the acceptance test of the one model CV picked, on held-out data: Pima.te
    # never picks the model or its threshold, it only accepts or rejects that choice.
    gate_failures = gates_of(settings).failures(holdout[selected.name])
    lineage = {
        "data": training.lineage,
        "feature_pipeline": result.pipeline.describe(),
        "training_reason": "BOOTSTRAP",
    }
    metrics = {
        **{f"{c.name}.cv_{settings.selection_metric}": c.cv_mean for c in result.candidates},
        **{f"cv_{k}": v for k, v in selected.cv_metrics.items()},
        **{f"test_{k}": v for k, v in holdout[selected.name].items()},
    }
    registry = Registry(settings)
    run_id, version = _register(
        registry, settings, result, training, seed, metrics, gate_failures, lineage
    )
    alias, reason, previous = _place(registry, version, gate_failures)
    status = {CHAMPION: "PROMOTED", CHALLENGER: "CHALLENGER", None: "REJECTED"}[alias]
    event = ModelVersionEvent.announce(
        settings.model_name,
        status,
        version=version,
        alias=alias,
        previous_version=previous,
        reason=reason,
        metrics=metrics,
        run_id=run_id,
        lineage=lineage,
    )
    return BootstrapReport(
        result,
        holdout,
        version,
        run_id,
        alias,
        reason,
        gate_failures,
        event,
        training=training,
        bundled_holdout=None if training.bundled else _bundled_holdout(settings, training, seed),
    )


def _bundled_holdout(
    settings: ChampionSettings, training: TrainingSet, seed: int
) -> dict[str, float]:
    """What the champion trained on Pima alone scores on a clinic's holdout: printed beside
    the clinic's own champion."""
    pima = bundled_set()
    reference = train(
        pima.raw, pima.y, seed=seed, metric=settings.selection_metric, rule=settings.selection_rule
    )
    return evaluate_model(reference.model, training.holdout_raw, training.holdout_y)


def _holdout_metrics(result: TrainingResult, training: TrainingSet) -> dict[str, dict[str, float]]:
    """Every candidate's metrics on the holdout, at its own threshold and calibration."""
    holdout: dict[str, dict[str, float]] = {}
    for cand in result.candidates:
        probe = result.model.__class__(
            cand.name,
            cand.explainer,
            result.pipeline,
            cand.estimator,
            cand.threshold,
            result.model.reference,
            calibration=cand.calibration,
        )
        holdout[cand.name] = evaluate_model(probe, training.holdout_raw, training.holdout_y)
    return holdout


def _register(
    registry: Registry,
    settings: ChampionSettings,
    result: TrainingResult,
    training: TrainingSet,
    seed: int,
    metrics: dict[str, float],
    gate_failures: list[str],
    lineage: dict[str, str],
) -> tuple[str, str]:
    """Log the selected model with its parameters, metrics, tags and holdout figures, and
    register it; (run id, version), once the version loads back."""
    # here, not at the top: the trainer imports this module for its gates, and matplotlib
    # would cost it 30 MiB for its whole life for plots that only a bootstrap draws
    from riskstream.models.plots import close, evaluation_figures

    selected = result.selected
    _, test_risk = result.model.predict_frame(training.holdout_raw)
    figures = evaluation_figures(
        training.holdout_y.to_numpy(), test_risk, selected.threshold, training.holdout_name
    )
    params: dict[str, Any] = {
        "candidate": selected.name,
        "threshold": selected.threshold,
        "seed": seed,
        "selection_rule": settings.selection_rule,
        "engineered": result.pipeline.engineered,
        **{f"best.{k}": v for k, v in selected.best_params.items()},
    }
    tags = {
        "riskstream.data_lineage": lineage["data"],
        "riskstream.feature_pipeline": result.pipeline.describe(),
        "riskstream.pipeline_version": PIPELINE_VERSION,
        "riskstream.training_reason": "BOOTSTRAP",
        "riskstream.candidate": selected.name,
        "riskstream.threshold": f"{selected.threshold:.2f}",
        "riskstream.gates": "pass" if not gate_failures else "; ".join(gate_failures),
    }
    try:
        run_id, version = registry.log_and_register(
            result.model, params=params, metrics=metrics, tags=tags, figures=figures
        )
    finally:
        close(figures)
    registry.load(version)  # must load back before it may serve
    return run_id, version


def _place(
    registry: Registry, version: str, gate_failures: list[str]
) -> tuple[str | None, str, str | None]:
    """(alias, reason, previous champion): champion when none exists and the gates pass,
    challenger when one exists, no alias when the gates fail."""
    if gate_failures:
        return None, "fails the quality gates: " + "; ".join(gate_failures), None
    if registry.alias_version(CHAMPION) is None:
        previous = registry.promote(version)
        return CHAMPION, "bootstrap: no champion yet and the gates pass", previous
    registry.set_alias(CHALLENGER, version)
    return CHALLENGER, "bootstrap: a champion exists; promote explicitly", None
