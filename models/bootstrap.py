"""Bootstrap training on the shipped Pima data (`riskstream model train`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from riskstream.models import data
from riskstream.models.features import PIPELINE_VERSION
from riskstream.models.plots import close, evaluation_figures
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry
from riskstream.models.selection import Gates
from riskstream.models.training import TrainingResult, evaluate_model, train
from riskstream.schemas.events import ModelVersionEvent
from riskstream.settings import Settings

log = logging.getLogger(__name__)


def gates_of(settings: Settings) -> Gates:
    return Gates(settings.gate_accuracy, settings.gate_roc_auc, settings.gate_f1)


@dataclass
class BootstrapReport:
    result: TrainingResult
    holdout: dict[str, dict[str, float]]  # candidate → Pima.te metrics (report only)
    version: str
    run_id: str
    alias: str | None
    reason: str
    gate_failures: list[str]
    event: ModelVersionEvent  # for the caller to publish on `model-versions`


def bootstrap(settings: Settings, *, seed: int = 0) -> BootstrapReport:
    """Train on Pima.tr2 (CV picks the candidate and threshold), evaluate on Pima.te, register
    the selected candidate, and make it champion if it passes the gates on Pima.te and no
    champion exists yet."""
    raw, y = data.load(data.TRAIN_FILE)
    test_raw, test_y = data.load(data.HOLDOUT_FILE)
    result = train(
        raw, y, seed=seed, metric=settings.selection_metric, rule=settings.selection_rule
    )
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
        holdout[cand.name] = evaluate_model(probe, test_raw, test_y)
    selected = result.selected
    # The gates are the acceptance test of the one model CV picked, on held-out data: Pima.te
    # never picks the model or its threshold, it only accepts or rejects that choice.
    gate_failures = gates_of(settings).failures(holdout[selected.name])
    lineage = {
        "data": f"{data.TRAIN_FILE} sha256:{data.sha256(data.TRAIN_FILE)}",
        "feature_pipeline": result.pipeline.describe(),
        "training_reason": "BOOTSTRAP",
    }
    metrics: dict[str, float] = {}
    for cand in result.candidates:
        metrics[f"{cand.name}.cv_{settings.selection_metric}"] = cand.cv_mean
    metrics.update({f"cv_{k}": v for k, v in selected.cv_metrics.items()})
    metrics.update({f"test_{k}": v for k, v in holdout[selected.name].items()})
    _, test_risk = result.model.predict_frame(test_raw)
    figures = evaluation_figures(test_y.to_numpy(), test_risk, selected.threshold, "Pima.te")
    registry = Registry(settings)
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
    alias: str | None
    if gate_failures:
        alias, reason = None, "fails the quality gates: " + "; ".join(gate_failures)
    elif registry.alias_version(CHAMPION) is None:
        alias, reason = CHAMPION, "bootstrap: no champion yet and the gates pass"
    else:
        alias, reason = CHALLENGER, "bootstrap: a champion exists; promote explicitly"
    previous = None
    if alias == CHAMPION:
        previous = registry.promote(version)
    elif alias == CHALLENGER:
        registry.set_alias(CHALLENGER, version)
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
    return BootstrapReport(result, holdout, version, run_id, alias, reason, gate_failures, event)
