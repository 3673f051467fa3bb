"""The trainer worker (`riskstream run trainer`): retrain-requests → MLflow → model-versions.

Guarantee: exactly one outcome (promoted, challenger, skipped, rejected or failed) per request
batch on `model-versions`: the outcome, any dead letters and the requests' offsets commit in
one Kafka transaction. The MLflow registration is outside it, so a trainer killed after
registering and before committing trains the batch again and registers another version (at
least once in the registry). One training runs at a time; requests that arrive meanwhile are
merged into the next run, and the merge is logged.

With ``RISKSTREAM_PROMOTION_EVIDENCE=live`` a version that passes the holdout becomes the
challenger instead, and the referee thread (`referee.py`) promotes or rejects it on live
labels. Its decisions are at least once: it publishes the event before it writes the
registry, so a crash between the two leaves the challenger alias, and the next look decides
again from the same evidence. After any promotion, the canary thread (`canary.py`) watches
the new champion against the previous one, scored in shadow, and rolls it back if the
previous one proves better on live labels (same guarantee).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from confluent_kafka import Message

from riskstream.kafka.dead_letter import dead_letter
from riskstream.kafka.runtime import Batch, Cadence, Output, TransactionalRuntime
from riskstream.memory import release_free_memory
from riskstream.models import data
from riskstream.models.bootstrap import gates_of
from riskstream.models.bundle import ModelLoadError, ScoringModel
from riskstream.models.features import PIPELINE_VERSION
from riskstream.models.online import OFFSETS_TAG, has_learned_any, parse_offsets
from riskstream.models.reference import drift_reference
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry
from riskstream.models.selection import decide_promotion, evaluate, promotion_route
from riskstream.models.training import train
from riskstream.ops import WorkerMetrics
from riskstream.schemas import CodecError
from riskstream.schemas.events import (
    DeadLetter,
    ModelVersionEvent,
    RetrainRequest,
)
from riskstream.settings import Settings
from riskstream.stream_processors.canary import CanaryWatch
from riskstream.stream_processors.labeled_examples import examples_frame, read_labeled_examples
from riskstream.stream_processors.notifications import AWAITING_APPROVAL
from riskstream.stream_processors.referee import LiveReferee
from riskstream.topics import DEAD_LETTER, LABELED_EXAMPLES, MODEL_VERSIONS, RETRAIN_REQUESTS

log = logging.getLogger(__name__)
PROCESSOR = "trainer"
GROUP = "riskstream-trainer"


@dataclass
class MergedRequest:
    """One or more RetrainRequests handled by one training run."""

    retrain_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    range_start: int | None = None
    range_end: int | None = None
    unbounded_start: bool = False
    unbounded_end: bool = False

    def add(self, request: RetrainRequest) -> None:
        self.retrain_ids.append(request.retrain_id)
        self.reasons += [r for r in request.reasons if r not in self.reasons]
        self.alert_ids += [a for a in request.alert_ids if a not in self.alert_ids]
        start, end = request.range_start, request.range_end
        self.unbounded_start |= start is None
        self.unbounded_end |= end is None
        if start is not None:
            self.range_start = start if self.range_start is None else min(self.range_start, start)
        if end is not None:
            self.range_end = end if self.range_end is None else max(self.range_end, end)

    @property
    def start(self) -> int | None:
        return None if self.unbounded_start else self.range_start

    @property
    def end(self) -> int | None:
        return None if self.unbounded_end else self.range_end

    def reason_text(self) -> str:
        text = "+".join(self.reasons) or "MANUAL"
        return f"{text} (alerts: {','.join(self.alert_ids)})" if self.alert_ids else text


class Trainer:
    """Consumes retrain requests and turns each (merged) batch into one training outcome."""

    def __init__(self, settings: Settings, *, seed: int = 0, max_runs: int | None = None) -> None:
        self.settings = settings
        self.seed = seed
        self.max_runs = max_runs  # exit after this many training runs (None: never)
        self.registry = Registry(settings)
        self.metrics = WorkerMetrics("trainer", stall_s=900.0)  # a training may take minutes
        self.runtime = TransactionalRuntime(
            settings,
            GROUP,
            "0",
            [RETRAIN_REQUESTS.name],
            self.metrics,
            cadence=Cadence(size=500, wait_s=1.0, linger_s=0.2),
            consumer_config={"max.poll.interval.ms": 900_000},  # a training may take minutes
        )
        self.codec = self.runtime.codec
        self.runs = 0
        self.last_outcome: ModelVersionEvent | None = None

    def run(self, stop: threading.Event | None = None, max_runs: int | None = None) -> None:
        stop = stop or threading.Event()
        limit = max_runs if max_runs is not None else self.max_runs
        if limit is not None and self.runs >= limit:
            return
        self.runtime.start()
        # each on its own thread with its own registry client; with manual promotion a person
        # decides (`riskstream model evidence` shows what the referee would weigh)
        if self.settings.promotion_evidence == "live" and self.settings.promotion == "auto":
            referee = LiveReferee(self.settings)
            threading.Thread(target=referee.run, args=(stop,), name="referee", daemon=True).start()
        if self.settings.canary_windows > 0:
            canary = CanaryWatch(self.settings)
            threading.Thread(target=canary.run, args=(stop,), name="canary", daemon=True).start()

        def process(messages: list[Message]) -> Batch | None:
            batch = self.process(messages)
            if batch is not None and limit is not None and self.runs + 1 >= limit:
                stop.set()  # the batch still commits: the loop ends after it
            return batch

        self.runtime.run(process, stop)

    def process(self, messages: list[Message]) -> Batch | None:
        """Merge the batch's requests into one training run; its outcome goes out with the
        requests' offsets."""
        if not messages:
            return None
        self.metrics.records_in.inc(len(messages))
        merged, letters = self._merge(messages)
        outputs = [Output(DEAD_LETTER.name, d.original_key, d) for d in letters]
        if merged is None:
            return Batch(outputs)
        outcome = self.handle(merged)
        outputs.append(Output(MODEL_VERSIONS.name, self.settings.model_name.encode(), outcome))

        def done() -> None:
            self.runs += 1
            self.last_outcome = outcome
            log.info("trainer: %s %s — %s", outcome.status, outcome.version or "", outcome.reason)

        return Batch(outputs, after_commit=done)

    def _merge(self, messages: list[Message]) -> tuple[MergedRequest | None, list[DeadLetter]]:
        merged = MergedRequest()
        letters = []
        for message in messages:
            try:
                request = self.codec.decode_event(message.value(), RetrainRequest)
            except CodecError as exc:
                letters.append(dead_letter(message, PROCESSOR, exc.reason, exc.message))
                continue
            if request.model_name != self.settings.model_name:
                letters.append(
                    dead_letter(message, PROCESSOR, "wrong_model", "request names another model")
                )
                continue
            merged.add(request)
        if not merged.retrain_ids:
            return None, letters
        if len(merged.retrain_ids) > 1:
            log.info(
                "trainer: merged %d retrain requests into one run: %s",
                len(merged.retrain_ids),
                ",".join(merged.retrain_ids),
            )
        return merged, letters

    # -- one training run -----------------------------------------------------------------

    def handle(self, request: MergedRequest) -> ModelVersionEvent:
        """Train, register and decide: the one ModelVersionEvent of this request batch."""
        log.info(
            "trainer: training for %s (%s)", ",".join(request.retrain_ids), request.reason_text()
        )
        try:
            event = self._train_and_decide(request)
        except Exception as exc:  # reported, never lost: the request's outcome is FAILED
            log.exception("trainer: training failed for %s", ",".join(request.retrain_ids))
            event = ModelVersionEvent.announce(
                self.settings.model_name,
                "FAILED",
                reason=f"training failed: {type(exc).__name__}: {str(exc)[:300]}",
                lineage={
                    "retrain_ids": ",".join(request.retrain_ids),
                    "training_reason": request.reason_text(),
                },
            )
        release_free_memory()  # the examples and frames are gone; give their pages back
        return event

    def _online_rival(
        self, positions: list[tuple[int, int]], raw: pd.DataFrame, y: np.ndarray
    ) -> tuple[str, str, dict[str, float]] | None:
        """The newest online snapshot that learned none of the holdout, judged on it:
        (version, run id, holdout metrics); None when there is none or it does not load."""
        for info in reversed(self.registry.versions()):
            offsets = info.tags.get(OFFSETS_TAG)
            if offsets is None or has_learned_any(parse_offsets(offsets), positions):
                continue
            try:
                snapshot = self.registry.load(info.version)
            except ModelLoadError:
                log.warning("trainer: online snapshot %s does not load; not compared", info.version)
                return None
            _, risk = snapshot.predict_frame(raw)
            return info.version, info.run_id or "", evaluate(y, risk, snapshot.threshold)
        return None

    def _train_and_decide(self, request: MergedRequest) -> ModelVersionEvent:
        batch = read_labeled_examples(
            self.settings,
            self.codec,
            request.start,
            request.end,
            newest=self.settings.retrain_max_examples,
        )
        topic = self.settings.topic(LABELED_EXAMPLES.name)
        lineage = {
            "retrain_ids": ",".join(request.retrain_ids),
            "training_reason": request.reason_text(),
            "labeled_examples": batch.lineage(topic),
            "feature_pipeline": PIPELINE_VERSION,
        }
        ordered = sorted(
            zip(batch.examples, batch.positions, strict=True),
            key=lambda pair: (pair[0].event_time, pair[0].request_id),
        )
        examples = [example for example, _ in ordered]
        labels = {int(e.label) for e in examples}
        minimum = self.settings.retrain_min_examples
        if len(examples) < minimum:
            return ModelVersionEvent.announce(
                self.settings.model_name,
                "SKIPPED",
                lineage=lineage,
                reason=f"only {len(examples)} labeled examples in the range; need {minimum}",
            )
        if len(labels) < 2:
            return ModelVersionEvent.announce(
                self.settings.model_name,
                "SKIPPED",
                lineage=lineage,
                reason=f"the range holds only one class ({labels.pop()})",
            )
        cut = int(len(examples) * (1 - self.settings.retrain_holdout_fraction))
        recent, holdout = examples[:cut], examples[cut:]  # time-ordered: never shuffled across
        holdout_positions = [position for _, position in ordered[cut:]]
        boot_raw, boot_y = data.load(data.TRAIN_FILE)
        raw = pd.concat([boot_raw, examples_frame(recent)], ignore_index=True)
        y = pd.concat([boot_y, pd.Series([int(e.label) for e in recent])], ignore_index=True)
        result = train(
            raw,
            y,
            seed=self.seed,
            metric=self.settings.selection_metric,
            rule=self.settings.selection_rule,
        )
        if self.settings.reference == "recent":
            _describe_recent_traffic(result.model, examples_frame(holdout))
        hold_raw = examples_frame(holdout)
        hold_y = np.array([int(e.label) for e in holdout])
        _, risk = result.model.predict_frame(hold_raw)
        candidate_metrics = evaluate(hold_y, risk, result.model.threshold)
        champion_version = self.registry.alias_version(CHAMPION)
        champion_metrics = None
        if champion_version is not None:
            try:
                champion = self.registry.load(champion_version)
                _, old_risk = champion.predict_frame(hold_raw)
                champion_metrics = evaluate(hold_y, old_risk, champion.threshold)
            except ModelLoadError:
                log.warning(
                    "trainer: champion %s does not load; comparing with none", champion_version
                )
        lineage["data"] = f"{data.TRAIN_FILE} sha256:{data.sha256(data.TRAIN_FILE)}"
        lineage["feature_pipeline"] = result.pipeline.describe()
        metrics = {f"holdout_{k}": v for k, v in candidate_metrics.items()}
        metrics.update({f"cv_{k}": v for k, v in result.selected.cv_metrics.items()})
        if champion_metrics:
            metrics.update({f"champion_holdout_{k}": v for k, v in champion_metrics.items()})
        tags = {
            "riskstream.data_lineage": f"{lineage['data']}; {lineage['labeled_examples']}",
            "riskstream.feature_pipeline": lineage["feature_pipeline"],
            "riskstream.pipeline_version": PIPELINE_VERSION,
            "riskstream.training_reason": lineage["training_reason"],
            "riskstream.retrain_ids": lineage["retrain_ids"],
            "riskstream.candidate": result.selected.name,
            "riskstream.threshold": f"{result.model.threshold:.2f}",
            "riskstream.reference": str(result.model.reference.get("source", "training")),
        }
        run_id, version = self.registry.log_and_register(
            result.model,
            metrics=metrics,
            tags=tags,
            params={
                "candidate": result.selected.name,
                "examples": len(examples),
                "holdout": len(holdout),
                **result.selected.best_params,
            },
        )
        try:
            self.registry.load(version)
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
        rival = self._online_rival(holdout_positions, hold_raw, hold_y)
        if rival is not None:
            metric = self.settings.selection_metric
            online_version, online_run, online_metrics = rival
            metrics.update({f"online_holdout_{k}": v for k, v in online_metrics.items()})
            better = online_metrics[metric] > candidate_metrics[metric]
            lineage["online_rival"] = (
                f"online snapshot {online_version} {metric} {online_metrics[metric]:.4f} vs "
                f"batch version {version} {candidate_metrics[metric]:.4f}: "
                + ("the snapshot is the candidate" if better else "the batch version is")
            )
            if better:  # the event's holdout_* describe the version it announces
                metrics.update({f"batch_holdout_{k}": v for k, v in candidate_metrics.items()})
                metrics.update({f"holdout_{k}": v for k, v in online_metrics.items()})
                version, run_id, candidate_metrics = online_version, online_run, online_metrics
        decision = decide_promotion(
            candidate_metrics,
            champion_metrics,
            gates_of(self.settings),
            self.settings.selection_metric,
            self.settings.promotion_margin,
        )
        reason = decision.reason
        s = self.settings
        route = promotion_route(decision.promote, s.promotion_evidence, s.promotion)
        if route == "promote":
            previous, status, alias = (
                self.registry.promote(version, watch=True),
                "PROMOTED",
                CHAMPION,
            )
        elif route == "await_approval":
            reason += (
                f"; {AWAITING_APPROVAL} (RISKSTREAM_PROMOTION=manual): `riskstream model "
                f"approve {version} --reason ...` or `reject`"
            )
            self.registry.await_approval(version, reason)
            previous, status, alias = champion_version, "CHALLENGER", CHALLENGER
        elif route == "challenge":
            self.registry.challenge(version)
            previous, status, alias = champion_version, "CHALLENGER", CHALLENGER
            if decision.promote:
                reason += "; promotion waits for live evidence (RISKSTREAM_PROMOTION_EVIDENCE)"
        else:
            previous, status, alias = champion_version, "REJECTED", None
        return ModelVersionEvent.announce(
            self.settings.model_name,
            status,
            version=version,
            alias=alias,
            previous_version=previous,
            reason=reason,
            metrics=metrics,
            run_id=run_id,
            lineage=lineage,
        )


def _describe_recent_traffic(model: ScoringModel, recent: pd.DataFrame) -> None:
    """Make the version's drift reference the newest traffic it was validated on (the
    holdout, ``RISKSTREAM_REFERENCE=recent``), not its whole training set, which mixes the
    bootstrap data with the drifted regime: the drift monitor then compares what the version
    will serve with what it was built for, and the incident that asked for it resolves once
    it serves. Not the whole retrain range either: it begins at the window of the first
    alert, which the drift may have filled only in part."""
    _, risk = model.predict_frame(recent)
    model.reference.update(drift_reference(recent, model.pipeline.frame(recent), risk))
    model.reference["source"] = "recent"
