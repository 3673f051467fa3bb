"""The label joiner (`riskstream run joiner`): ground-truth + predictions → labeled-examples.

Predictions wait for their labels in Redis (``SET … EX ttl``), not in a Faust table: labels
arrive days later, Redis expires them by itself, and every joiner instance sees every
prediction whatever partitions it owns. A longer-lived ``seen`` marker tells a label that came
after the TTL (``late_label``) from one whose request never had a prediction
(``unknown_request_id``). A label that arrives before its prediction is cached waits up to
``joiner_grace_s`` in a Redis sorted set. Every label ends as one LabeledExample or one dead
letter; none is dropped.

Guarantee: exactly once for labels joined in their own batch (LabeledExamples, dead letters
and offsets commit in one Kafka transaction; Redis writes are idempotent); at-least-once for
labels released from the grace set, whose ``example_id`` is derived from the request id so a
duplicate is recognisable.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Message, Producer

from models.features import is_measured
from riskstream.kafka.clients import (
    codec_for,
    group_consumer,
    new_id,
    now_ms,
    rewind,
    settle_transaction,
    transactional_producer,
)
from riskstream.kafka.dead_letter import dead_letter
from riskstream.ops import WorkerMetrics
from riskstream.redis_client import REDIS_DOWN, connect
from riskstream.settings import Settings
from riskstream.topics import DEAD_LETTER, GROUND_TRUTH, LABELED_EXAMPLES, PREDICTIONS
from schemas import CodecError

log = logging.getLogger(__name__)
GROUP = "riskstream-joiner"
LOCATION = struct.Struct(">iq")  # partition, offset of the cached prediction
SEEN_TTL_FACTOR = 10


@dataclass
class JoinerStats:
    predictions_cached: int = 0
    joined: int = 0
    late_labels: int = 0
    unknown_labels: int = 0
    parked: int = 0
    dead_letters: int = 0


def example_id(request_id: str) -> str:
    """Deterministic, so a re-emitted LabeledExample is recognisable as the same one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"riskstream:labeled:{request_id}"))


def measured_features(prediction: dict[str, Any]) -> dict[str, float]:
    """The prediction's features less those the record did not carry (and those derived from
    them): a retrain imputes them afresh, and its drift reference counts measured values."""
    missing = prediction.get("missing") or ()
    return {k: v for k, v in prediction["features"].items() if is_measured(k, missing)}


def labeled_example(
    prediction: dict[str, Any],
    location: tuple[int, int],
    truth: dict[str, Any],
    truth_location: tuple[int, int],
) -> dict[str, Any]:
    return {
        "example_id": example_id(prediction["request_id"]),
        "request_id": prediction["request_id"],
        "patient_id": prediction["patient_id"],
        "event_time": prediction["event_time"],
        "labeled_at": truth["event_time"],
        "features": measured_features(prediction),
        "label": int(truth["outcome"]),
        "risk": prediction["risk"],
        "predicted_label": prediction["label"],
        "model_version": prediction["model_version"],
        "prediction_partition": location[0],
        "prediction_offset": location[1],
        "truth_partition": truth_location[0],
        "truth_offset": truth_location[1],
    }


class Joiner:
    def __init__(self, settings: Settings, *, instance: str = "0") -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.redis = connect(settings)
        self.stats = JoinerStats()
        self.metrics = WorkerMetrics("joiner")
        self.consumer = group_consumer(settings, GROUP, self.metrics.consumer_config())
        self.instance = instance
        self.producer = self._new_producer()
        self._topics = {
            "predictions": settings.topic(PREDICTIONS.name),
            "truth": settings.topic(GROUND_TRUTH.name),
            "labeled": settings.topic(LABELED_EXAMPLES.name),
            "dead": settings.topic(DEAD_LETTER.name),
        }
        self._pending_key = settings.redis_key("joiner", "pending")

    def _prediction_key(self, request_id: str) -> str:
        return self.settings.redis_key("prediction", request_id)

    def _seen_key(self, request_id: str) -> str:
        return self.settings.redis_key("seen", request_id)

    def run(self, stop: threading.Event | None = None) -> JoinerStats:
        stop = stop or threading.Event()
        self.producer.init_transactions(30)
        self.consumer.subscribe(
            [self._topics["predictions"], self._topics["truth"]],
            **self.metrics.rebalance_callbacks(),
        )
        log.info("joiner: joining %s to %s", self._topics["truth"], self._topics["predictions"])
        self.metrics.ready = True
        try:
            while not stop.is_set():
                self.metrics.beat()
                messages = [m for m in self.consumer.consume(500, timeout=0.2) if not m.error()]
                try:
                    self._process(messages)
                except REDIS_DOWN as exc:
                    log.warning("joiner: Redis unavailable (%s); retrying the batch in 1 s", exc)
                    if messages:
                        rewind(self.consumer, messages)
                    stop.wait(1.0)
                else:
                    self.metrics.records_in.inc(len(messages))
        finally:
            self.consumer.close()
        return self.stats

    def _process(self, messages: list[Message]) -> None:
        predictions = [m for m in messages if m.topic() == self._topics["predictions"]]
        labels = [m for m in messages if m.topic() == self._topics["truth"]]
        self._cache(predictions)
        released = self._due_pending()
        if not labels and not released:
            if messages and not self._transaction([], [], []):  # commit the predictions' offsets
                rewind(self.consumer, messages)
            return
        examples, letters, parked = self._join(labels)
        for _, entry in released:
            kind, event = self._resolve_pending(entry)
            (examples if kind == "example" else letters).append(event)
        if not self._transaction(examples, letters, parked):
            rewind(self.consumer, messages)
        elif released:
            self.redis.zrem(self._pending_key, *[raw for raw, _ in released])

    def _new_producer(self) -> Producer:
        return transactional_producer(self.settings, GROUP, self.instance)

    # -- predictions ----------------------------------------------------------------------

    def _cache(self, predictions: list[Message]) -> None:
        if not predictions:
            return
        ttl = self.settings.joiner_prediction_ttl_s
        pipe = self.redis.pipeline(transaction=False)
        for message in predictions:
            try:
                prediction = self.codec.decode(message.value(), "Prediction")
            except CodecError:
                log.warning(
                    "joiner: undecodable prediction at %s/%s", message.partition(), message.offset()
                )
                continue
            rid = prediction["request_id"]
            location = LOCATION.pack(int(message.partition() or 0), int(message.offset() or 0))
            pipe.set(self._prediction_key(rid), location + (message.value() or b""), ex=ttl)
            pipe.set(self._seen_key(rid), b"1", ex=ttl * SEEN_TTL_FACTOR)
        pipe.execute()
        self.stats.predictions_cached += len(predictions)

    # -- labels ---------------------------------------------------------------------------

    def _join(
        self, labels: list[Message]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, float]]]:
        examples: list[dict[str, Any]] = []
        letters: list[dict[str, Any]] = []
        parked: list[tuple[str, float]] = []
        decoded: list[tuple[Message, dict[str, Any]]] = []
        for message in labels:
            try:
                decoded.append((message, self.codec.decode(message.value(), "GroundTruth")))
            except CodecError as exc:
                letters.append(self._letter(message, exc.reason, exc.message))
        if not decoded:
            return examples, letters, parked
        rids = [truth["request_id"] for _, truth in decoded]
        cached = self.redis.mget([self._prediction_key(r) for r in rids])
        seen = self.redis.mget([self._seen_key(r) for r in rids])
        grace_ms = self.settings.joiner_grace_s * 1000
        for (message, truth), hit, was_seen in zip(decoded, cached, seen, strict=True):
            location = (int(message.partition() or 0), int(message.offset() or 0))
            if hit is not None:
                examples.append(self._example(hit, truth, location))
            elif was_seen is not None:
                self.stats.late_labels += 1
                letters.append(
                    self._letter(message, "late_label", "label arrived after its prediction's TTL")
                )
            elif now_ms() - int(message.timestamp()[1]) < grace_ms:
                entry = json.dumps(
                    {
                        "value": (message.value() or b"").hex(),
                        "key": (message.key() or b"").hex(),
                        "partition": location[0],
                        "offset": location[1],
                    }
                )
                parked.append((entry, time.time() + self.settings.joiner_grace_s))
            else:
                self.stats.unknown_labels += 1
                letters.append(
                    self._letter(
                        message,
                        "unknown_request_id",
                        "no prediction was ever made for this request id",
                    )
                )
        return examples, letters, parked

    def _example(
        self, hit: bytes, truth: dict[str, Any], truth_location: tuple[int, int]
    ) -> dict[str, Any]:
        partition, offset = LOCATION.unpack_from(hit)
        prediction = self.codec.decode(hit[LOCATION.size :], "Prediction")
        self.stats.joined += 1
        return labeled_example(prediction, (partition, offset), truth, truth_location)

    def _due_pending(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Parked labels whose prediction has arrived or whose grace has run out."""
        entries = self.redis.zrange(self._pending_key, 0, 499, withscores=True)
        due = []
        now = time.time()
        for raw, deadline in entries:
            entry = json.loads(raw)
            truth = self.codec.decode(bytes.fromhex(entry["value"]), "GroundTruth")
            if deadline <= now or self.redis.exists(self._prediction_key(truth["request_id"])):
                due.append((raw, {**entry, "truth": truth}))
        return due

    def _resolve_pending(self, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        truth = entry["truth"]
        hit = self.redis.get(self._prediction_key(truth["request_id"]))
        location = (entry["partition"], entry["offset"])
        if hit is not None:
            return "example", self._example(hit, truth, location)
        self.stats.unknown_labels += 1
        return "letter", {
            "dead_letter_id": new_id(),
            "event_time": now_ms(),
            "processor": "joiner",
            "reason": "unknown_request_id",
            "detail": "no prediction arrived for this request id within the grace period",
            "source_topic": self._topics["truth"],
            "source_partition": location[0],
            "source_offset": location[1],
            "original_key": bytes.fromhex(entry["key"]) or None,
            "original_value": bytes.fromhex(entry["value"]),
        }

    def _letter(self, message: Message, reason: str, detail: str) -> dict[str, Any]:
        return dead_letter(message, "joiner", reason, detail)

    # -- output ---------------------------------------------------------------------------

    def _transaction(
        self,
        examples: list[dict[str, Any]],
        letters: list[dict[str, Any]],
        parked: list[tuple[str, float]],
    ) -> bool:
        committing = False
        self.producer.begin_transaction()
        try:
            for example in examples:
                self.producer.produce(
                    self._topics["labeled"],
                    key=example["patient_id"].encode(),
                    value=self.codec.encode("LabeledExample", example),
                )
            for letter in letters:
                self.producer.produce(
                    self._topics["dead"],
                    key=letter["original_key"],
                    value=self.codec.encode("DeadLetter", letter),
                )
            self.producer.send_offsets_to_transaction(
                self.consumer.position(self.consumer.assignment()),
                self.consumer.consumer_group_metadata(),
                30,
            )
            if parked:  # before the offsets commit: a crash then re-parks the same entries
                self.redis.zadd(self._pending_key, {e: d for e, d in parked})
                self.stats.parked += len(parked)
            committing = True
            self.producer.commit_transaction(30)
        except KafkaException as exc:  # the batch is consumed again unless it committed
            committed, self.producer = settle_transaction(
                self.producer, exc, committing, self._new_producer, "joiner"
            )
            if not committed:
                return False
        except REDIS_DOWN:
            self.producer.abort_transaction(30)
            raise
        self.stats.dead_letters += len(letters)
        self.metrics.records_out(LABELED_EXAMPLES.name, len(examples))
        for letter in letters:
            self.metrics.dead_letter(letter["reason"])
        return True
