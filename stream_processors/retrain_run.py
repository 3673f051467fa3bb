"""One retrain of the trainer: a request's labeled examples → a fitted, registered and judged
version, and the ModelVersionEvent that says what became of it.

The fit, and all work with models, runs in a training process of its own
(``retrain_fit.py``), and the registry is held by another (``registry_process.py``): this
process holds neither an estimator nor MLflow. With a
champion to start from it is a refit: the champion's family, hyperparameters and engineered
features, fitted on the bootstrap data plus the request's examples, calibrated again. That
takes seconds where the full search takes a minute on 2 cores, and a drift is answered by
the refit. With ``RISKSTREAM_RETRAIN_SEARCH=background`` the full search over every candidate
then runs in a second, lower-priority process; what it finds is registered and judged by the
same rules, against whichever version is champion when it finishes.

Every registered version is announced REGISTERED on `model-versions` at once, before any
decision, so the scorers load and check it while it is judged: a promotion is then a pointer
move for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models.bundle import ModelLoadError
from riskstream.models.features import PIPELINE_VERSION
from riskstream.models.monitoring.notifications import AWAITING_APPROVAL
from riskstream.models.registry_reader import CHALLENGER, CHAMPION
from riskstream.models.selection import decide_promotion, gates_of, promotion_route
from riskstream.models.training_process import TrainingProcess
from riskstream.schemas import AvroCodec
from riskstream.schemas.events import ModelVersionEvent
from riskstream.stream_processors.retrain_data import (
    MergedRequest,
    RetrainData,
    examples_when_labeled,
)
from riskstream.stream_processors.retrain_fit import (
    REFIT,
    SEARCH,
    FittedVersion,
    fit_for_request,
    holdout_metrics_of,
    judge_search,
    loads_back,
    online_rival,
    search_pickled,
)

if TYPE_CHECKING:
    from pathlib import Path

    from riskstream.models.registry_process import RegistryProcess

log = logging.getLogger(__name__)


@dataclass
class PendingSearch:
    """A full search running in the background after a refit. It waits while the refit's
    fate is open (the canary watches it, or it is the challenger awaiting evidence or a
    person), and is judged only if the champion then is what the refit's outcome should
    leave: the refit itself when it won, else the champion before it. A rollback or a
    rejection on live evidence says the request's data no longer speaks for the traffic, and
    its holdout may not promote another version learned from it."""

    future: Future[bytes]  # the search's result, pickled (``search_pickled``)
    data: RetrainData
    refit_version: str
    refit_on_trial: bool  # the refit is a challenger that live evidence or a person decides
    expected_champion: str | None


class Retrainer:
    """Fits, registers and judges versions; ``announce`` publishes a REGISTERED event."""

    def __init__(
        self,
        settings: MonitoringSettings,
        registry: RegistryProcess,
        announce: Callable[[ModelVersionEvent], None],
        *,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.announce = announce
        self.seed = seed
        self.refits = TrainingProcess(REFIT)
        self.searches = TrainingProcess(SEARCH, nice=10)
        self.pending: list[PendingSearch] = []
        self.stopping = threading.Event()  # the trainer's stop (``start``): ends a label wait

    def start(self, stopping: threading.Event | None = None) -> None:
        """Warm the refit process now, so the first drift does not pay for its imports;
        ``stopping`` is the trainer's stop, which ends a wait for labels."""
        if stopping is not None:
            self.stopping = stopping
        self.refits.start()

    def stop(self) -> None:
        """Stop both processes; a background search still running is abandoned."""
        self.refits.stop()
        self.searches.stop()
        self.pending.clear()

    def retrain(self, request: MergedRequest, codec: AvroCodec) -> ModelVersionEvent:
        """Train for the request, register and decide: the request's one outcome."""
        clock = _Stopwatch()
        data = examples_when_labeled(self.settings, codec, request, self.stopping)
        if isinstance(data, ModelVersionEvent):
            return data
        clock.lap("read")
        champion_version, champion_bundle = self._champion()
        clock.lap("champion")
        fitted = self.refits.run(
            fit_for_request, self.settings, data, champion_bundle, seed=self.seed
        )
        clock.lap("fit")
        data = replace(data, lineage={**data.lineage, "fit": fitted.fit, "seconds": clock.text()})
        event = self.judge(fitted, data)
        if fitted.fit == REFIT and self.settings.retrain_search == "background" and event.version:
            self._search_after(data, event, champion_version)
        return event

    def finished_searches(self) -> list[ModelVersionEvent]:
        """The outcomes of the background searches that finished and may be judged now (see
        PendingSearch); a search whose champion moved on is SKIPPED, not registered."""
        done = [p for p in self.pending if p.future.done() and not self._refit_undecided(p)]
        self.pending = [p for p in self.pending if p not in done]
        events = []
        for search in done:
            lineage = {
                **{k: v for k, v in search.data.lineage.items() if k != "seconds"},
                "fit": SEARCH,
                "search": f"background, after the refit of version {search.refit_version}",
            }
            data = replace(search.data, lineage=lineage)
            try:
                result = search.future.result()
                champion_version, champion_bundle = self._champion()
                if champion_version != search.expected_champion:
                    events.append(_stale(self.settings, search, champion_version, lineage))
                    continue
                fitted = self._judge_search(result, data, champion_bundle)
                events.append(self.judge(fitted, data))
            except Exception as exc:  # reported, never lost: the search's outcome is FAILED
                log.exception("trainer: the background search failed")
                events.append(
                    ModelVersionEvent.announce(
                        self.settings.model_name,
                        "FAILED",
                        reason=f"background search failed: {type(exc).__name__}: {exc}"[:300],
                        lineage=lineage,
                    )
                )
        return events

    # -- the steps ------------------------------------------------------------------------

    @property
    def _metric(self) -> str:
        return self.settings.selection_metric

    def _judge_search(
        self, result: bytes, data: RetrainData, champion_bundle: Path | None
    ) -> FittedVersion:
        fitted: FittedVersion = self.refits.run(
            judge_search, self.settings, result, data, champion_bundle
        )
        return fitted

    def _search_after(
        self, data: RetrainData, refit: ModelVersionEvent, champion_before: str | None
    ) -> None:
        if self.pending:
            log.info("trainer: a background search is still running; none started for this one")
            return
        assert refit.version is not None
        s = self.settings
        decided_later = s.promotion == "manual" or s.promotion_evidence == "live"
        on_trial = refit.status == "CHALLENGER" and decided_later
        # the champion the refit's outcome should leave: itself when it won (or must win)
        won = refit.status == "PROMOTED" or on_trial
        expected = refit.version if won else champion_before
        future = self.searches.submit(search_pickled, self.settings, data, seed=self.seed)
        self.pending.append(PendingSearch(future, data, refit.version, on_trial, expected))
        log.info("trainer: full candidate search started in the background")

    def _refit_undecided(self, search: PendingSearch) -> bool:
        """Whether the refit this search follows is still being judged: watched by the
        canary, or the challenger (live evidence, or a person, decides)."""
        watch = self.registry.watch()
        if watch is not None and watch.champion == search.refit_version:
            return True
        if not search.refit_on_trial:
            return False
        return self.registry.alias_version(CHALLENGER) == search.refit_version

    def _champion(self) -> tuple[str | None, Path | None]:
        """The champion's version and bundle file (None when it does not load)."""
        version = self.registry.alias_version(CHAMPION)
        if version is None:
            return None, None
        try:
            return version, self.registry.download(version)[1]
        except ModelLoadError:
            log.warning("trainer: champion %s does not load; comparing with none", version)
            return version, None

    def judge(self, fitted: FittedVersion, data: RetrainData) -> ModelVersionEvent:
        """Register the fitted version, announce it, and decide what becomes of it."""
        lineage = {**data.lineage, "feature_pipeline": fitted.feature_pipeline}
        metrics = {f"holdout_{k}": v for k, v in fitted.holdout.items()}
        metrics.update({f"cv_{k}": v for k, v in fitted.cv_metrics.items()})
        if fitted.champion_holdout:
            metrics.update({f"champion_holdout_{k}": v for k, v in fitted.champion_holdout.items()})
        registered = self._register(fitted, data, lineage, metrics)
        if isinstance(registered, ModelVersionEvent):
            return registered
        version, run_id = registered
        candidate_metrics = fitted.holdout
        rival = self._online_rival(data)
        if rival is not None:
            version, run_id, candidate_metrics = _prefer_rival(
                rival, (version, run_id, candidate_metrics), metrics, lineage, self._metric
            )
        return self._decide(
            version, run_id, candidate_metrics, fitted.champion_holdout, metrics, lineage
        )

    def _register(
        self,
        fitted: FittedVersion,
        data: RetrainData,
        lineage: dict[str, str],
        metrics: dict[str, float],
    ) -> tuple[str, str] | ModelVersionEvent:
        """(version, run id) once registered, announced and loaded back; else the FAILED
        event."""
        tags = {
            "riskstream.data_lineage": f"{lineage['data']}; {lineage['labeled_examples']}",
            "riskstream.feature_pipeline": lineage["feature_pipeline"],
            "riskstream.pipeline_version": PIPELINE_VERSION,
            "riskstream.training_reason": lineage["training_reason"],
            "riskstream.retrain_ids": lineage["retrain_ids"],
            "riskstream.candidate": fitted.candidate,
            "riskstream.fit": lineage["fit"],
            **fitted.tags,
        }
        params = {
            "candidate": fitted.candidate,
            "fit": lineage["fit"],
            "examples": data.examples,
            "holdout": len(data.holdout_y),
            **fitted.best_params,
        }
        clock = _Stopwatch()
        run_id, version = self.registry.log_bundle(
            fitted.bundle, fitted.reference, metrics=metrics, tags=tags, params=params
        )
        clock.lap("register")
        timed = {**lineage, "seconds": f"{lineage.get('seconds', '')} {clock.text()}".strip()}
        self.announce(
            ModelVersionEvent.announce(
                self.settings.model_name,
                "REGISTERED",
                version=version,
                run_id=run_id,
                metrics=metrics,
                lineage=timed,
                reason=f"{lineage['fit']} of {fitted.candidate}; judged next",
            )
        )
        try:  # what the registry holds, downloaded and loaded back in the training process
            self.refits.run(loads_back, self.registry.download(version)[1])
        except ModelLoadError as exc:
            return ModelVersionEvent.announce(
                self.settings.model_name,
                "FAILED",
                version=version,
                run_id=run_id,
                lineage=lineage,
                metrics=metrics,
                reason=f"registered version does not load back: {exc.message}",
            )
        return version, run_id

    def _online_rival(self, data: RetrainData) -> tuple[str, str, dict[str, float]] | None:
        """The newest online snapshot that learned none of the holdout, judged on it:
        (version, run id, holdout metrics); None when there is none or it does not load."""
        info = self.refits.run(online_rival, self.registry.versions(), data)
        if info is None:
            return None
        try:
            bundle = self.registry.download(info.version)[1]
            metrics = self.refits.run(holdout_metrics_of, bundle, data)
        except ModelLoadError:
            log.warning("trainer: online snapshot %s does not load; not compared", info.version)
            return None
        return info.version, info.run_id or "", metrics

    def _decide(
        self,
        version: str,
        run_id: str,
        candidate_metrics: dict[str, float],
        champion_metrics: dict[str, float] | None,
        metrics: dict[str, float],
        lineage: dict[str, str],
    ) -> ModelVersionEvent:
        s = self.settings
        decision = decide_promotion(
            candidate_metrics,
            champion_metrics,
            gates_of(s),
            self._metric,
            s.promotion_margin,
        )
        reason = decision.reason
        champion_version = self.registry.alias_version(CHAMPION)
        route = promotion_route(decision.promote, s.promotion_evidence, s.promotion)
        alias: str | None = None
        previous = champion_version
        if route == "promote":
            previous = self.registry.promote(version, watch=True)
            status, alias = "PROMOTED", CHAMPION
        elif route == "await_approval":
            reason += (
                f"; {AWAITING_APPROVAL} (RISKSTREAM_PROMOTION=manual): `riskstream model "
                f"approve {version} --reason ...` or `reject`"
            )
            self.registry.await_approval(version, reason)
            status, alias = "CHALLENGER", CHALLENGER
        elif route == "challenge":
            self.registry.challenge(version)
            status, alias = "CHALLENGER", CHALLENGER
            if decision.promote:
                reason += "; promotion waits for live evidence (RISKSTREAM_PROMOTION_EVIDENCE)"
        else:
            status = "REJECTED"
        return ModelVersionEvent.announce(
            s.model_name,
            status,
            version=version,
            alias=alias,
            previous_version=previous,
            reason=reason,
            metrics=metrics,
            run_id=run_id,
            lineage=lineage,
        )


class _Stopwatch:
    """Seconds per step of a training run, for its lineage: ``read=0.41 fit=0.62``."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append((name, now - self.last))
        self.last = now

    def text(self) -> str:
        return " ".join(f"{name}={seconds:.2f}" for name, seconds in self.laps)


def _stale(
    settings: MonitoringSettings,
    search: PendingSearch,
    champion: str | None,
    lineage: dict[str, str],
) -> ModelVersionEvent:
    reason = (
        f"the champion is version {champion} now, not version {search.expected_champion} "
        "that the refit of this request left: its holdout no longer speaks for the traffic, "
        "so the search's result is not registered"
    )
    log.info("trainer: background search skipped: %s", reason)
    return ModelVersionEvent.announce(
        settings.model_name, "SKIPPED", reason=reason, lineage=lineage
    )


def _prefer_rival(
    rival: tuple[str, str, dict[str, float]],
    batch: tuple[str, str, dict[str, float]],
    metrics: dict[str, float],
    lineage: dict[str, str],
    metric: str,
) -> tuple[str, str, dict[str, float]]:
    """The online snapshot or the batch version, whichever the holdout finds better; the
    comparison is noted in ``metrics`` and ``lineage``."""
    online_version, _, online_metrics = rival
    version, _, candidate_metrics = batch
    metrics.update({f"online_holdout_{k}": v for k, v in online_metrics.items()})
    better = online_metrics[metric] > candidate_metrics[metric]
    lineage["online_rival"] = (
        f"online snapshot {online_version} {metric} {online_metrics[metric]:.4f} vs "
        f"batch version {version} {candidate_metrics[metric]:.4f}: "
        + ("the snapshot is the candidate" if better else "the batch version is")
    )
    if not better:
        return batch
    # the event's holdout_* describe the version it announces
    metrics.update({f"batch_holdout_{k}": v for k, v in candidate_metrics.items()})
    metrics.update({f"holdout_{k}": v for k, v in online_metrics.items()})
    return rival
