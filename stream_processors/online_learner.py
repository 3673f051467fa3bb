"""The online learner (`riskstream run learner`): labeled-examples → a river model that
predicts each example, then learns from it → snapshots registered in MLflow (alias `online`).

Guarantee: every labeled example is learned exactly once into the lineage of each snapshot.
It runs on the at-least-once engine with an assigned source: a snapshot is one registered
version holding the model, its progressive score and the offset after the last example it
learned in each partition; that version is the learner's only checkpoint (it joins no
consumer group and commits nothing). A learner killed between
snapshots resumes from the newest one and learns the examples after its offsets again, into
a model that had not learned them. It produces nothing to Kafka: an undecodable example is
counted and skipped, as the performance monitor, which reads the same topic, does.

The trainer compares the newest snapshot that has not learned its holdout with the batch
candidate it trains, so the promotion policy can choose either on the same holdout.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from confluent_kafka import Message
from prometheus_client import Counter, Gauge

from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.core.worker_slices import OnlineLearnerSettings
from riskstream.io.kafka.at_least_once import AssignedSource, AtLeastOnceRuntime
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.contract import Cadence
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.io.ops import WorkerMetrics
from riskstream.models import data
from riskstream.models.bundle import ModelLoadError
from riskstream.models.online import KIND, OFFSETS_TAG, OnlineLearner, offsets_text, parse_offsets
from riskstream.models.registry import ONLINE, Registry
from riskstream.schemas import CodecError
from riskstream.schemas.events import LabeledExample
from riskstream.stream_processors.labeled_examples import examples_frame

log = logging.getLogger(__name__)
PROCESSOR = "learner"


class Learner:
    """Feeds the online model from labeled-examples and snapshots it to the registry."""

    def __init__(self, settings: OnlineLearnerSettings, *, seed: int = 0) -> None:
        self.settings = settings
        self.seed = seed
        self.codec = codec_for(settings)
        self.keyring = PatientKeyring(settings)  # follows patient-keys as examples arrive
        self.registry = Registry(settings)
        self.metrics = WorkerMetrics(PROCESSOR, stall_s=300.0)  # a snapshot registers a version
        self.topic = settings.topic(LABELED_EXAMPLES.name)
        self.progressive = Gauge(
            "riskstream_online_progressive",
            "The online model's predict-then-learn metrics over every example it learned "
            "(metric=champion_progressive_accuracy: the serving champions' on the same ones).",
            ["metric"],
            registry=self.metrics.registry,
        )
        self.snapshot_failures = Counter(
            "riskstream_online_snapshot_failures",
            "Snapshots the registry refused; the next one retries.",
            registry=self.metrics.registry,
        )
        self.learner: OnlineLearner | None = None
        self.offsets: dict[int, int] = {}  # partition → next offset to learn
        self.snapshots: list[str] = []  # versions registered by this process
        self._unsaved = 0  # examples learned since the last snapshot
        self._last_snapshot = 0.0  # monotonic time of the last snapshot

    def resume(self) -> None:
        """The newest snapshot and its offsets, or a model fitted on the bootstrap data and
        the topic's beginning when there is none (or it does not load)."""
        version = self.registry.alias_version(ONLINE)
        if version is not None:
            try:
                snapshot = self.registry.load(version)
                info = self.registry.get(version)
                self.learner = OnlineLearner.resume(snapshot)
                self.offsets = parse_offsets(info.tags.get(OFFSETS_TAG, ""))
                log.info(
                    "learner: resuming from snapshot %s (%d examples learned)",
                    version,
                    self.learner.score.examples,
                )
                return
            except ModelLoadError as exc:
                log.warning("learner: snapshot %s does not load (%s); starting over", version, exc)
        raw, y = data.load(data.TRAIN_FILE)
        lr, l2 = self.settings.learner_lr, self.settings.learner_l2
        self.learner = OnlineLearner.bootstrap(raw, y, lr=lr, l2=l2, seed=self.seed)
        self.offsets = {}
        log.info("learner: no snapshot yet; starting from the bootstrap data")

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        self.resume()
        source = AssignedSource(self.settings, self.topic, self.offsets)
        runtime = AtLeastOnceRuntime(
            self.settings, PROCESSOR, self.metrics, source, cadence=Cadence(500, 1.0, 0.2)
        )
        self._last_snapshot = time.monotonic()
        log.info("learner: learning from %s", self.topic)
        try:
            runtime.run(self, stop)
        finally:
            self.keyring.close()
        if self._unsaved:
            self.snapshot()  # what it learned survives a clean stop

    def process(self, records: list[Message]) -> None:
        """Learn the batch; snapshot when one is due."""
        self.learn(records)
        self.tick()

    def tick(self) -> None:
        if self._snapshot_due(self._last_snapshot):
            self.try_snapshot()
            self._last_snapshot = time.monotonic()

    def _snapshot_due(self, last: float) -> bool:
        if not self._unsaved:
            return False
        every_s, every_n = self.settings.learner_snapshot_s, self.settings.learner_snapshot_examples
        return self._unsaved >= every_n or time.monotonic() - last >= every_s

    def learn(self, messages: list[Message]) -> int:
        """Predict, then learn, each decodable example in order; returns how many."""
        assert self.learner is not None, "call resume() first"
        examples = []
        for message in messages:
            if message.error():
                continue
            self.offsets[message.partition() or 0] = (message.offset() or 0) + 1
            try:
                examples.append(self.codec.decode_event(message.value(), LabeledExample))
            except CodecError:
                log.warning("learner: undecodable labeled example at %s", message.offset())
                self.metrics.skipped.labels("undecodable").inc()
        unreadable = self.keyring.stats.unreadable
        self.keyring.follow()  # a forgotten patient's keys go within seconds
        examples = self.keyring.open_all(examples)
        if self.keyring.stats.unreadable > unreadable:  # a forgotten patient's: left out
            self.metrics.skipped.labels("forgotten").inc(self.keyring.stats.unreadable - unreadable)
        if not examples:
            return 0
        labels = np.array([e.label for e in examples])
        champion = np.array([e.predicted_label for e in examples])
        self.learner.learn(examples_frame(examples), labels, champion)
        self.metrics.records_in.inc(len(examples))
        self._unsaved += len(examples)
        for name, value in self.learner.score.metrics().items():
            self.progressive.labels(name).set(value)
        return len(examples)

    def try_snapshot(self) -> str | None:
        """A scheduled snapshot: a registry that fails (MLflow down, disk full) is logged
        and tried again at the next one; the learner keeps learning, and what it learned
        meanwhile goes into that snapshot. (A worker that died here would stop `run all`.)"""
        try:
            return self.snapshot()
        except Exception as exc:  # any registry failure: the next snapshot retries
            log.error(
                "learner: snapshot failed (%s: %s); %d examples unsaved, retrying at the next "
                "one. Check that the MLflow store (RISKSTREAM_MLFLOW_TRACKING_URI) answers",
                type(exc).__name__,
                str(exc)[:200],
                self._unsaved,
            )
            self.snapshot_failures.inc()
            return None

    def snapshot(self) -> str:
        """Register the model as it is now, with its offsets; the `online` alias follows."""
        assert self.learner is not None, "call resume() first"
        model = self.learner.snapshot()
        metrics = model.metrics
        offsets = offsets_text(self.offsets)
        _, version = self.registry.log_and_register(
            model,
            params={"candidate": KIND, "lr": model.estimator.lr, "l2": model.estimator.l2},
            metrics=metrics,
            tags={
                "riskstream.candidate": KIND,
                "riskstream.training_reason": "ONLINE",
                OFFSETS_TAG: offsets,
                "riskstream.data_lineage": f"{data.TRAIN_FILE}, then {self.topic} up to {offsets}",
                "riskstream.threshold": f"{model.threshold:.2f}",
                "riskstream.reference": str(model.reference.get("source", "training")),
            },
        )
        self.registry.set_alias(ONLINE, version)
        self.snapshots.append(version)
        self._unsaved = 0
        log.info(
            "learner: snapshot %s after %d examples (progressive accuracy %.3f; champions %.3f)",
            version,
            int(metrics.get("progressive_examples", 0)),
            metrics.get("progressive_accuracy", float("nan")),
            metrics.get("champion_progressive_accuracy", float("nan")),
        )
        return version
