"""A retrain's model work, done in the trainer's training processes
(``models/training_process.py``): fit, judge on the request's holdout, and hand back the
bundle as bytes with what the registry records of it.

The trainer's own process then never holds an estimator, so it never imports scikit-learn,
xgboost or river; nor MLflow, which its registry process holds (``registry_process.py``).
Measured on 2026-12-05: the trainer held 346 MiB before its first fit, against the 300 MB
bar; its imports alone were 273 MiB.

Every function here runs in a child process: its arguments and answers pickle, and no
answer holds an estimator (a background search's result crosses as pickled bytes, which the
trainer keeps unopened until the refit process judges it). The trainer imports this module
to name the functions it sends, so the estimators' libraries are imported inside them.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models.bundle import ModelLoadError, ScoringModel
from riskstream.models.registry_reader import VersionInfo, calibration_tags
from riskstream.stream_processors.retrain_data import RetrainData

if TYPE_CHECKING:
    from riskstream.models.reference import DriftReference
    from riskstream.models.training import TrainingResult

log = logging.getLogger(__name__)
REFIT, SEARCH = "refit", "search"


@dataclass(frozen=True)
class FittedVersion:
    """A fitted, not yet registered version, as the trainer's process receives it."""

    bundle: bytes  # the saved ScoringModel, as ``bundle.pkl`` holds it
    reference: DriftReference
    fit: str  # REFIT or SEARCH
    candidate: str
    best_params: dict[str, Any]
    cv_metrics: dict[str, float]
    feature_pipeline: str
    tags: dict[str, str]  # calibration, threshold, reference source
    holdout: dict[str, float]
    champion_holdout: dict[str, float] | None  # None: no champion to compare with


def search_options(settings: MonitoringSettings, seed: int) -> dict[str, Any]:
    return {"seed": seed, "metric": settings.selection_metric, "rule": settings.selection_rule}


def fit_for_request(
    settings: MonitoringSettings,
    data: RetrainData,
    champion_bundle: Path | None,
    *,
    seed: int,
) -> FittedVersion:
    """Refit the champion's family when there is one (``RISKSTREAM_RETRAIN_SEARCH=first``:
    search every candidate instead), and judge the result and the champion on the holdout."""
    from riskstream.models.candidates import CANDIDATES
    from riskstream.models.training import refit, train

    champion = _champion(champion_bundle)
    families = {c.name for c in CANDIDATES}
    fit = REFIT if champion is not None and champion.kind in families else SEARCH
    if settings.retrain_search == "first":
        fit = SEARCH
    if fit == REFIT:
        assert champion is not None
        result = refit(champion, data.raw, data.y, seed=seed, metric=settings.selection_metric)
    else:
        result = train(data.raw, data.y, **search_options(settings, seed))
    return _fitted(settings, result, fit, data, champion)


def search_pickled(settings: MonitoringSettings, data: RetrainData, *, seed: int) -> bytes:
    """The full search (in the background process), its result pickled for
    :func:`judge_search`: the trainer holds it without loading an estimator."""
    from riskstream.models.training import train

    result = train(data.raw, data.y, **search_options(settings, seed))
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def judge_search(
    settings: MonitoringSettings, result: bytes, data: RetrainData, champion_bundle: Path | None
) -> FittedVersion:
    """A background search's result (from :func:`search_pickled`), judged like a refit."""
    searched: TrainingResult = pickle.loads(result)  # our own child's bytes
    champion = _champion(champion_bundle)
    return _fitted(settings, searched, SEARCH, data, champion)


def _champion(bundle: Path | None) -> ScoringModel | None:
    """The champion to refit and compare with; None when there is none or it does not load
    (a corrupt champion must not stop a retrain that may replace it)."""
    if bundle is None:
        return None
    try:
        return ScoringModel.load(bundle)
    except ModelLoadError as exc:
        log.warning("trainer: the champion does not load (%s); comparing with none", exc.message)
        return None


def loads_back(bundle: Path) -> None:
    """Raises ModelLoadError if a registered version's bundle does not load and score."""
    ScoringModel.load(bundle)


def holdout_metrics_of(bundle: Path, data: RetrainData) -> dict[str, float]:
    """A registered version's holdout metrics (the online rival's judging); raises
    ModelLoadError if it does not load."""
    return holdout_metrics(ScoringModel.load(bundle), data)


def online_rival(versions: list[VersionInfo], data: RetrainData) -> VersionInfo | None:
    """The newest online snapshot that learned none of the holdout, or None."""
    from riskstream.models.online import OFFSETS_TAG, has_learned_any, parse_offsets

    for info in reversed(versions):
        offsets = info.tags.get(OFFSETS_TAG)
        if offsets is not None and not has_learned_any(
            parse_offsets(offsets), data.holdout_positions
        ):
            return info
    return None


def holdout_metrics(model: ScoringModel, data: RetrainData) -> dict[str, float]:
    """The model's metrics on the holdout, with the sampling errors of the gated ones (the
    gates weigh a miss against them, :meth:`Gates.missed_within_noise`)."""
    from riskstream.models.selection import evaluate_gated

    _, risk = model.predict_frame(data.holdout_raw)
    return evaluate_gated(data.holdout_y, risk, model.threshold)


def _fitted(
    settings: MonitoringSettings,
    result: TrainingResult,
    fit: str,
    data: RetrainData,
    champion: ScoringModel | None,
) -> FittedVersion:
    model = result.model
    if settings.reference == "recent":
        _describe_recent_traffic(model, data)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = model.save(Path(tmp)).read_bytes()
    return FittedVersion(
        bundle=bundle,
        reference=model.reference,
        fit=fit,
        candidate=result.selected.name,
        best_params=dict(result.selected.best_params),
        cv_metrics=dict(result.selected.cv_metrics),
        feature_pipeline=result.pipeline.describe(),
        tags={
            **calibration_tags(model),
            "riskstream.threshold": f"{model.threshold:.2f}",
            "riskstream.reference": str(model.reference.get("source", "training")),
        },
        holdout=holdout_metrics(model, data),
        champion_holdout=None if champion is None else holdout_metrics(champion, data),
    )


def _describe_recent_traffic(model: ScoringModel, data: RetrainData) -> None:
    """Make the version's drift reference the newest traffic it learned and was validated on
    (``RISKSTREAM_REFERENCE=recent``), not its whole training set, which mixes the bootstrap
    data with the drifted regime: the drift monitor then compares what the version will
    serve with what it was built for, and the incident that asked for it resolves once it
    serves."""
    from riskstream.models.reference import drift_reference

    recent = data.reference_raw
    _, risk = model.predict_frame(recent)
    model.reference.update(drift_reference(recent, model.pipeline.frame(recent), risk))
    model.reference["source"] = "recent"
