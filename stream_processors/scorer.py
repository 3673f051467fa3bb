"""The scorer (`riskstream run scorer`): patient-records → predictions (+ dead-letter).

Guarantee: exactly once, by Kafka transactions. Each batch's predictions, dead letters and
input offsets commit in one transaction; a scorer killed mid-batch leaves an aborted
transaction that `read_committed` consumers never see, and its restart (same
``transactional.id``) re-scores the batch. Every valid record gets exactly one committed
prediction; every invalid one exactly one dead letter.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, Message, Producer

from riskstream.kafka.clients import (
    codec_for,
    group_consumer,
    publish_events,
    rewind,
    settle_transaction,
    transactional_producer,
)
from riskstream.ops import WorkerMetrics
from riskstream.settings import Settings
from riskstream.topics import (
    DEAD_LETTER,
    DEAD_LETTER_MAX_BYTES,
    DRIFT_ALERTS,
    PATIENT_RECORDS,
    PREDICTIONS,
)
from stream_processors.alerts import model_load_alert
from stream_processors.model_holder import ModelHolder
from stream_processors.scoring import Input, ScoredBatch, score_batch

log = logging.getLogger(__name__)
GROUP = "riskstream-scorer"
# After the first record of a batch, how long to wait for more. It bounds the transaction
# rate at low load (each commit costs the broker a few writes) for at most 10 ms of latency;
# measured at 1k records/s: 0 ms gave p99 41 ms, 10 ms gave 38 ms, 20 ms 42 ms (BENCHMARKS.md).
LINGER_S = 0.01


@dataclass
class ScorerStats:
    records_in: int = 0
    predictions: int = 0
    dead_letters: int = 0
    batches: int = 0
    served_by: dict[str, int] = field(default_factory=dict)  # version → predictions
    first_offset_by_version: dict[str, tuple[int, int]] = field(default_factory=dict)


class Scorer:
    def __init__(
        self,
        settings: Settings,
        *,
        instance: str = "0",
        batch_size: int = 1000,
        batch_wait_s: float = 0.1,  # idle poll: how soon a stop request is seen
        linger_s: float = LINGER_S,
    ) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.linger_s = linger_s
        self.stats = ScorerStats()
        self.metrics = WorkerMetrics("scorer")
        self.models = ModelHolder(settings, self.codec, on_load_failure=self._alert_load_failure)
        self.consumer = group_consumer(
            settings,
            GROUP,
            {"fetch.max.bytes": 8 * 1024 * 1024, **self.metrics.consumer_config()},
        )
        self.instance = instance
        self.producer = transactional_producer(
            settings, GROUP, instance, {"message.max.bytes": DEAD_LETTER_MAX_BYTES}
        )
        self._predictions = settings.topic(PREDICTIONS.name)
        self._dead_letter = settings.topic(DEAD_LETTER.name)

    def run(self, stop: threading.Event | None = None) -> ScorerStats:
        stop = stop or threading.Event()
        self.producer.init_transactions(30)
        if self.models.wait_for_champion(stop) is None:
            return self.stats
        self.models.follow()
        self.consumer.subscribe(
            [self.settings.topic(PATIENT_RECORDS.name)], **self.metrics.rebalance_callbacks()
        )
        log.info("scorer: consuming %s", self.settings.topic(PATIENT_RECORDS.name))
        self.metrics.ready = True
        try:
            while not stop.is_set():
                self.metrics.beat()
                # Wait for one record, then up to `linger_s` for the batch to fill: a full
                # batch under load; at low load a short wait that bounds the transaction rate.
                first = self.consumer.poll(self.batch_wait_s)
                if first is None:
                    continue
                messages = [first, *self.consumer.consume(self.batch_size - 1, self.linger_s)]
                if messages:
                    self._process(messages)
        finally:
            self.models.stop()
            self.consumer.close()
        return self.stats

    def _process(self, messages: list[Message]) -> None:
        items = []
        for m in messages:
            if m.error():
                log.warning("scorer: consumer error %s", m.error())
                continue
            items.append(
                Input(
                    m.key(),
                    m.value(),
                    m.topic() or "",
                    int(m.partition() or 0),
                    int(m.offset() or 0),
                    int(m.timestamp()[1]),
                )
            )
        if not items:
            return
        model = self.models.current  # read once: one version per batch
        assert model is not None
        batch = score_batch(items, model, self.codec, self.settings.model_name)
        committing = False
        try:
            self.producer.begin_transaction()
            for key, prediction in batch.predictions:
                self.producer.produce(
                    self._predictions, key=key, value=self.codec.encode("Prediction", prediction)
                )
                self.producer.poll(0)
            for dl_key, letter in batch.dead_letters:
                self.producer.produce(
                    self._dead_letter, key=dl_key, value=self.codec.encode("DeadLetter", letter)
                )
            self.producer.send_offsets_to_transaction(
                self.consumer.position(self.consumer.assignment()),
                self.consumer.consumer_group_metadata(),
                30,
            )
            committing = True
            self.producer.commit_transaction(30)
        except KafkaException as exc:
            if not self._settle(exc, committing):
                rewind(self.consumer, messages)
                return
        self.stats.batches += 1
        self.stats.records_in += len(items)
        self.stats.predictions += len(batch.predictions)
        self.stats.dead_letters += len(batch.dead_letters)
        self._observe(items, batch, model.version)
        if batch.predictions:
            version = model.version
            self.stats.served_by[version] = self.stats.served_by.get(version, 0) + len(
                batch.predictions
            )
            first = batch.predictions[0][1]
            self.stats.first_offset_by_version.setdefault(
                version, (first["source_partition"], first["source_offset"])
            )

    def _settle(self, exc: KafkaException, committing: bool) -> bool:
        """True if the failed transaction committed after all; else it was aborted (or the
        producer rebuilt) and the caller rewinds the batch."""
        committed, self.producer = settle_transaction(
            self.producer, exc, committing, self._new_producer, "scorer"
        )
        return committed

    def _new_producer(self) -> Producer:
        return transactional_producer(
            self.settings, GROUP, self.instance, {"message.max.bytes": DEAD_LETTER_MAX_BYTES}
        )

    def _observe(self, items: list[Input], batch: ScoredBatch, version: str) -> None:
        m = self.metrics
        m.records_in.inc(len(items))
        m.records_out(PREDICTIONS.name, len(batch.predictions))
        for _, letter in batch.dead_letters:
            m.dead_letter(letter["reason"])
        for _, prediction in batch.predictions:
            m.latency.observe(prediction["latency_ms"] / 1000)
        m.model_version.set(int(version) if version.isdigit() else -1)

    def _alert_load_failure(self, version: str, reason: str) -> None:
        self.metrics.model_load_failures.inc()
        current = self.models.current
        alert = model_load_alert(
            self.settings.model_name,
            current.version if current else "none",
            f"version {version} failed to load ({reason}); the old version keeps serving",
            statistic="load_failure",
        )
        self.metrics.alert(alert)
        try:
            publish_events(self.settings, DRIFT_ALERTS.name, "DriftAlert", [(b"model_load", alert)])
        except Exception:  # the alert is best effort; the log line above already says it
            log.exception("scorer: could not publish the model-load alert")
