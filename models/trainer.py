"""The trainer worker (`riskstream run trainer`): retrain-requests → MLflow → model-versions.

Guarantee: at-least-once. A request's offset is committed only after its outcome (promoted,
challenger, skipped, rejected or failed) is on `model-versions`; a trainer killed mid-training
sees the request again when it restarts. One training runs at a time; requests that arrive
meanwhile are merged into the next run, and the merge is logged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, Message, Producer

from models import data
from models.bootstrap import gates_of
from models.bundle import ModelLoadError, ScoringModel
from models.events import model_version_event, publish_model_event
from models.features import PIPELINE_VERSION, RAW_FEATURES
from models.labeled_examples import read_labeled_examples
from models.reference import drift_reference
from models.registry import CHALLENGER, CHAMPION, Registry
from models.selection import decide_promotion, evaluate
from models.training import train
from riskstream.kafka.clients import codec_for
from riskstream.kafka.dead_letter import dead_letter
from riskstream.ops import WorkerMetrics
from riskstream.settings import Settings
from riskstream.topics import DEAD_LETTER, LABELED_EXAMPLES, RETRAIN_REQUESTS
from schemas import CodecError

log = logging.getLogger(__name__)
PROCESSOR = "trainer"


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

    def add(self, request: dict[str, Any]) -> None:
        self.retrain_ids.append(request["retrain_id"])
        self.reasons += [r for r in request["reasons"] if r not in self.reasons]
        self.alert_ids += [a for a in request.get("alert_ids", []) if a not in self.alert_ids]
        start, end = _ms(request.get("range_start")), _ms(request.get("range_end"))
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


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


class Trainer:
    """Consumes retrain requests and turns each (merged) batch into one training outcome."""

    def __init__(self, settings: Settings, *, seed: int = 0, max_runs: int | None = None) -> None:
        self.settings = settings
        self.seed = seed
        self.max_runs = max_runs  # exit after this many training runs (None: never)
        self.codec = codec_for(settings)
        self.registry = Registry(settings)
        self.consumer = Consumer(
            settings.kafka_config(
                {
                    "group.id": f"{settings.topic_prefix}riskstream-trainer",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "max.poll.interval.ms": 900_000,  # a training may take minutes
                }
            )
        )
        self.producer = Producer(settings.kafka_config())
        self.outcomes: list[dict[str, Any]] = []
        self.metrics = WorkerMetrics("trainer", stall_s=900.0)  # a training may take minutes

    def run(self, stop: threading.Event | None = None, max_runs: int | None = None) -> None:
        stop = stop or threading.Event()
        max_runs = max_runs if max_runs is not None else self.max_runs
        self.consumer.subscribe(
            [self.settings.topic(RETRAIN_REQUESTS.name)], **self.metrics.rebalance_callbacks()
        )
        runs = 0
        log.info(
            "trainer: waiting for retrain requests on %s",
            self.settings.topic(RETRAIN_REQUESTS.name),
        )
        self.metrics.ready = True
        try:
            while not stop.is_set() and (max_runs is None or runs < max_runs):
                self.metrics.beat()
                messages = self.consumer.consume(500, timeout=1.0)
                self.metrics.records_in.inc(len(messages))
                merged = self._merge(messages)
                if merged is None:
                    if messages:
                        self.consumer.commit(asynchronous=False)
                    continue
                self.outcomes.append(self.handle(merged))
                self.consumer.commit(asynchronous=False)
                runs += 1
        finally:
            self.producer.flush(10)
            self.consumer.close()

    def _merge(self, messages: list[Message]) -> MergedRequest | None:
        merged = MergedRequest()
        for message in messages:
            if message.error():
                log.warning("trainer: consumer error %s", message.error())
                continue
            try:
                request = self.codec.decode(message.value(), "RetrainRequest")
            except CodecError as exc:
                self._dead_letter(message, exc.reason, exc.message)
                continue
            if request["model_name"] != self.settings.model_name:
                self._dead_letter(message, "wrong_model", "request names another model")
                continue
            merged.add(request)
        if not merged.retrain_ids:
            return None
        if len(merged.retrain_ids) > 1:
            log.info(
                "trainer: merged %d retrain requests into one run: %s",
                len(merged.retrain_ids),
                ",".join(merged.retrain_ids),
            )
        return merged

    def _dead_letter(self, message: Message, reason: str, detail: str) -> None:
        event = dead_letter(message, PROCESSOR, reason, detail)
        self.producer.produce(
            self.settings.topic(DEAD_LETTER.name),
            key=message.key(),
            value=self.codec.encode("DeadLetter", event),
        )
        self.producer.flush(10)

    # -- one training run -----------------------------------------------------------------

    def handle(self, request: MergedRequest) -> dict[str, Any]:
        """Train, register and decide; publish exactly one ModelVersionEvent and return it."""
        log.info(
            "trainer: training for %s (%s)", ",".join(request.retrain_ids), request.reason_text()
        )
        try:
            event = self._train_and_decide(request)
        except Exception as exc:  # reported, never lost: the request's outcome is FAILED
            log.exception("trainer: training failed for %s", ",".join(request.retrain_ids))
            event = model_version_event(
                self.settings,
                "FAILED",
                reason=f"training failed: {type(exc).__name__}: {str(exc)[:300]}",
                lineage={
                    "retrain_ids": ",".join(request.retrain_ids),
                    "training_reason": request.reason_text(),
                },
            )
        publish_model_event(self.settings, event)
        log.info("trainer: %s %s — %s", event["status"], event["version"] or "", event["reason"])
        return event

    def _train_and_decide(self, request: MergedRequest) -> dict[str, Any]:
        batch = read_labeled_examples(self.settings, self.codec, request.start, request.end)
        topic = self.settings.topic(LABELED_EXAMPLES.name)
        lineage = {
            "retrain_ids": ",".join(request.retrain_ids),
            "training_reason": request.reason_text(),
            "labeled_examples": batch.lineage(topic),
            "feature_pipeline": PIPELINE_VERSION,
        }
        examples = sorted(batch.examples, key=lambda e: (e["event_time"], e["request_id"]))
        labels = {int(e["label"]) for e in examples}
        minimum = self.settings.retrain_min_examples
        if len(examples) < minimum:
            return model_version_event(
                self.settings,
                "SKIPPED",
                lineage=lineage,
                reason=f"only {len(examples)} labeled examples in the range; need {minimum}",
            )
        if len(labels) < 2:
            return model_version_event(
                self.settings,
                "SKIPPED",
                lineage=lineage,
                reason=f"the range holds only one class ({labels.pop()})",
            )
        cut = int(len(examples) * (1 - self.settings.retrain_holdout_fraction))
        recent, holdout = examples[:cut], examples[cut:]  # time-ordered: never shuffled across
        boot_raw, boot_y = data.load(data.TRAIN_FILE)
        raw = pd.concat([boot_raw, _frame(recent)], ignore_index=True)
        y = pd.concat([boot_y, pd.Series([int(e["label"]) for e in recent])], ignore_index=True)
        result = train(
            raw,
            y,
            seed=self.seed,
            metric=self.settings.selection_metric,
            rule=self.settings.selection_rule,
        )
        if self.settings.reference == "recent":
            _describe_recent_traffic(result.model, _frame(holdout))
        hold_raw = _frame(holdout)
        hold_y = np.array([int(e["label"]) for e in holdout])
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
            return model_version_event(
                self.settings,
                "FAILED",
                version=version,
                run_id=run_id,
                lineage=lineage,
                metrics=metrics,
                reason=f"registered version does not load back: {exc.message}",
            )
        decision = decide_promotion(
            candidate_metrics,
            champion_metrics,
            gates_of(self.settings),
            self.settings.selection_metric,
            self.settings.promotion_margin,
        )
        if decision.promote:
            previous, status, alias = self.registry.promote(version), "PROMOTED", CHAMPION
        else:
            self.registry.set_alias(CHALLENGER, version)
            previous, status, alias = champion_version, "CHALLENGER", CHALLENGER
        return model_version_event(
            self.settings,
            status,
            version=version,
            alias=alias,
            previous_version=previous,
            reason=decision.reason,
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


def _frame(examples: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(
        [{n: e["features"].get(n, np.nan) for n in RAW_FEATURES} for e in examples],
        columns=list(RAW_FEATURES),
    ).astype(float)
