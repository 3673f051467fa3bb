"""The scorer (`riskstream run scorer`): patient-records → predictions (+ shadow-predictions,
dead-letter).

While the registry has a `challenger` (and ``RISKSTREAM_SHADOW`` is on), every valid record is
scored by both versions: the variant serving its patient (champion, or challenger for the
``RISKSTREAM_SPLIT`` share) goes to predictions, the other to shadow-predictions. While a
promotion is watched (the trainer's canary), the `previous` champion is scored the same way,
in shadow only.

Guarantee: exactly once, by Kafka transactions. Each batch's predictions, shadow predictions,
dead letters and input offsets commit in one transaction; a scorer killed mid-batch leaves an
aborted transaction that `read_committed` consumers never see, and its restart (same
``transactional.id``) re-scores the batch. Every valid record gets exactly one committed
prediction (and, while a challenger is scored, exactly one shadow prediction); every invalid
one exactly one dead letter.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from riskstream.core.memory import freeze_startup_heap
from riskstream.core.pseudonyms import pseudonym_key
from riskstream.core.topics import (
    DEAD_LETTER,
    DEAD_LETTER_MAX_BYTES,
    DRIFT_ALERTS,
    PATIENT_RECORDS,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
)
from riskstream.core.worker_slices import ChampionSettings
from riskstream.io.kafka.clients import publish_events
from riskstream.io.kafka.contract import Batch, Cadence, Output
from riskstream.io.kafka.dead_letter import consumed
from riskstream.io.kafka.patient_keys import PatientKeyring, patient_key_output
from riskstream.io.kafka.runtime import TransactionalRuntime
from riskstream.io.ops import WorkerMetrics
from riskstream.models.monitoring.alerts import model_load_alert
from riskstream.models.monitoring.variants import CHAMPION_VARIANT
from riskstream.schemas.prediction_columns import PredictionColumns
from riskstream.stream_processors.model_holder import ModelHolder, whole_model
from riskstream.stream_processors.scoring import Input, ScoredBatch, score_batch

log = logging.getLogger(__name__)
GROUP = "riskstream-scorer"
# After the first record of a batch, how long to wait for more. It bounds the transaction
# rate at low load (each commit costs the broker a few writes) for a few ms of latency.
# Measured at 1k records/s on 2026-12-02: 0 ms gave p99 41 ms, 10 ms 38 ms, 20 ms 42 ms. Since
# the columnar hot path (2026-12-04), 40 s runs at 5k/s: 10 ms gave p99 54, 66 and 67 ms
# (p50 29-31), 5 ms gave 63, 49, 50 and 45 ms (p50 25-26); at 1k/s 5 ms gave 53 and 43 ms.
LINGER_S = 0.005
# Under backlog a batch takes up to this many batch sizes of already-fetched records, so one
# transaction (a few broker writes, ~10 ms) is paid over more records; at low load batches
# stay as small as what arrives within the linger.
BACKLOG_BATCHES = 5
# The most one fetch response may carry. The whole response is buffered before the prefetch
# bound (4 MiB) is checked, so under backlog the queue overshoots by up to this much. Peak RSS
# of one scorer on 200,000 waiting records (2026-12-05): 8 MiB gave 290 and 291 MiB, 2 MiB 276,
# 1 MiB 273 and 275, at the same speed (72-78k records/s). librdkafka's floor is the
# consumer's message.max.bytes (1,000,000); a larger record is still fetched alone.
FETCH_MAX_BYTES = 2 * 1024 * 1024


@dataclass
class ScorerStats:
    records_in: int = 0
    predictions: int = 0
    shadow_predictions: int = 0
    dead_letters: int = 0
    batches: int = 0
    served_by: dict[str, int] = field(default_factory=dict)  # version → predictions
    first_offset_by_version: dict[str, tuple[int, int]] = field(default_factory=dict)


class Scorer:
    def __init__(
        self,
        settings: ChampionSettings,
        *,
        instance: str = "0",
        batch_size: int = 1000,
        batch_wait_s: float = 0.1,  # idle poll: how soon a stop request is seen
        linger_s: float = LINGER_S,
    ) -> None:
        self.settings = settings
        self.stats = ScorerStats()
        self.metrics = WorkerMetrics("scorer")
        self.runtime = TransactionalRuntime(
            settings,
            GROUP,
            instance,
            [PATIENT_RECORDS.name],
            self.metrics,
            cadence=Cadence(batch_size, batch_wait_s, linger_s, BACKLOG_BATCHES * batch_size),
            consumer_config={"fetch.max.bytes": FETCH_MAX_BYTES},
            producer_config={"message.max.bytes": DEAD_LETTER_MAX_BYTES},
        )
        self.codec = self.runtime.codec
        self._pseudonym_key = b""  # read in run(): a constructor does no I/O
        # dead letters are sealed under their patient's key; the scorer only makes keys, a
        # new one per letter (capacity 0): it holds none a forgotten patient could still use
        self.keyring = PatientKeyring(settings, capacity=0)
        self.models = ModelHolder(
            settings,
            self.codec,
            whole_model,
            on_load_failure=self._alert_load_failure,
            with_challenger=settings.shadow or settings.split > 0,
        )

    def run(self, stop: threading.Event | None = None) -> ScorerStats:
        stop = stop or threading.Event()
        self._pseudonym_key = pseudonym_key(self.settings)  # refused before any record is read
        self.runtime.start()
        if self.models.wait_for_champion(stop) is None:
            return self.stats
        self.models.follow()
        frozen = freeze_startup_heap()  # started, champion loaded: what lives now, lives on
        log.info("scorer: %d start-up objects frozen out of the collector's walks", frozen)
        try:
            self.runtime.run(self, stop)
        finally:
            self.models.stop()
        return self.stats

    def tick(self) -> Batch | None:
        return None  # nothing is due on a clock: the model follower swaps versions

    def process(self, messages: list[Message]) -> Batch | None:
        """Score one batch with one champion (and challenger) version: predictions, shadow
        predictions and dead letters out."""
        if not messages:
            return None
        self.keyring.discard_unwritten()  # keys made for a batch that rolled back
        items = [consumed(m) for m in messages]
        model = self.models.current  # read once: one version per batch
        assert model is not None
        rival, may_serve = self.models.shadow()
        scored = score_batch(
            items,
            model,
            self.codec,
            self.settings.model_name,
            challenger=rival,
            split=self.settings.split if may_serve else 0.0,
            pseudonym_key=self._pseudonym_key,
        )
        served, shadow = scored.encoded(self.codec)
        outputs: list[Output[Any]] = [Output(PREDICTIONS, k, v, p) for k, v, p in served]
        outputs += [Output(SHADOW_PREDICTIONS, k, v, p) for k, v, p in shadow]
        letters = [self.keyring.seal_letter(d, self._pseudonym_key) for _, d in scored.dead_letters]
        outputs += [patient_key_output(k) for k in self.keyring.unwritten]
        outputs += [Output(DEAD_LETTER, (d.patient_ref or "").encode(), d) for d in letters]

        def done() -> None:
            self.keyring.written()
            self._observe(items, scored, model.version)

        return Batch(outputs, after_commit=done)

    def _observe(self, items: list[Input], batch: ScoredBatch, version: str) -> None:
        served = batch.champion
        predictions = len(served) if served is not None else 0
        shadow = predictions if batch.challenger is not None else 0
        self.stats.batches += 1
        self.stats.records_in += len(items)
        self.stats.predictions += predictions
        self.stats.shadow_predictions += shadow
        self.stats.dead_letters += len(batch.dead_letters)
        if served is not None and predictions:
            by_version = self.stats.served_by
            for cols, count in _served_counts(batch):
                by_version[cols.model_version] = by_version.get(cols.model_version, 0) + count
            first = (int(served.source_partitions[0]), int(served.source_offsets[0]))
            self.stats.first_offset_by_version.setdefault(version, first)
        m = self.metrics
        m.records_in.inc(len(items))
        m.records_out(PREDICTIONS.name, predictions)
        m.records_out(SHADOW_PREDICTIONS.name, shadow)
        for _, letter in batch.dead_letters:
            m.dead_letter(letter.reason)
        if served is not None:
            m.observe_latencies(served.latencies / 1000)
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
            publish_events(self.settings, DRIFT_ALERTS.name, [(b"model_load", alert)])
        except Exception:  # the alert is best effort; the log line above already says it
            log.exception("scorer: could not publish the model-load alert")


def _served_counts(batch: ScoredBatch) -> list[tuple[PredictionColumns, int]]:
    """Each scored version's columns and how many of the batch's predictions it served."""
    assert batch.champion is not None
    if batch.challenger is None:
        return [(batch.champion, len(batch.champion))]
    champion = sum(1 for v in batch.served_by if v == CHAMPION_VARIANT)
    return [(batch.champion, champion), (batch.challenger, len(batch.served_by) - champion)]
