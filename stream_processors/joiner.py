"""The label joiner (`riskstream run joiner`): ground-truth + predictions (+ shadow-predictions)
→ labeled-examples.

Predictions wait for their labels in Redis (``SET … EX ttl``), not in a Faust table: labels
arrive days later, Redis expires them by itself, and every joiner instance sees every
prediction whatever partitions it owns. A longer-lived ``seen`` marker tells a label that came
after the TTL (``late_label``) from one whose request never had a prediction
(``unknown_request_id``). A label that arrives before its prediction is cached waits up to
``joiner_grace_s`` in Redis, sealed under its patient's key
(:mod:`riskstream.stream_processors.parked_labels`). Every label ends as one LabeledExample or
one dead letter; none is dropped, except a parked label whose patient is forgotten meanwhile.
A shadow prediction's version, risk and label wait beside their served prediction, and the
example carries both: champion and challenger judged on the same records, the pairs a paired
test needs. A label joined before its shadow prediction was
cached gets none. An example's feature values are sealed under its patient's data key
(:mod:`riskstream.io.kafka.patient_keys`); a new patient's key is written to ``patient-keys``
in the same transaction as the first example sealed under it.

Guarantee: exactly once for labels joined in their own batch (LabeledExamples, dead letters
and offsets commit in one Kafka transaction; Redis writes are idempotent); at-least-once for
labels released from the grace set, whose ``example_id`` is derived from the request id so a
duplicate is recognisable.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from confluent_kafka import Message

from riskstream.core.ids import now_ms
from riskstream.core.pseudonyms import keyed_ref, patient_ref, pseudonym_key
from riskstream.core.topics import (
    DEAD_LETTER,
    GROUND_TRUTH,
    LABELED_EXAMPLES,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
)
from riskstream.core.worker_slices import LabelJoinerSettings
from riskstream.io.kafka.contract import Batch, Cadence, Output
from riskstream.io.kafka.dead_letter import consumed, dead_letter
from riskstream.io.kafka.patient_keys import PatientKeyring, patient_key_output
from riskstream.io.kafka.runtime import TransactionalRuntime
from riskstream.io.ops import WorkerMetrics
from riskstream.io.redis_client import (
    CACHED_AT,
    RedisClient,
    connect,
    mget,
    prediction_key,
    seen_key,
    shadow_key,
)
from riskstream.models.features import is_measured
from riskstream.schemas import CodecError
from riskstream.schemas.events import (
    DeadLetter,
    GroundTruth,
    LabeledExample,
    Prediction,
)
from riskstream.stream_processors.parked_labels import ParkedLabel, ParkedLabels

log = logging.getLogger(__name__)
GROUP = "riskstream-joiner"
SEEN_TTL_FACTOR = 10
ShadowScore = tuple[str, float, int]  # the shadow prediction's version, risk and label


@dataclass
class JoinerStats:
    predictions_cached: int = 0
    shadows_cached: int = 0
    joined_with_shadow: int = 0
    joined: int = 0
    late_labels: int = 0
    unknown_labels: int = 0
    parked: int = 0
    parked_unreadable: int = 0  # parked labels whose patient was forgotten before they left
    dead_letters: int = 0


def example_id(request_id: str) -> str:
    """Deterministic, so a re-emitted LabeledExample is recognisable as the same one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"riskstream:labeled:{request_id}"))


def measured_features(prediction: Prediction) -> dict[str, float]:
    """The prediction's features less those the record did not carry (and those derived from
    them): a retrain imputes them afresh, and its drift reference counts measured values."""
    missing = prediction.missing or ()
    return {k: v for k, v in prediction.features.items() if is_measured(k, missing)}


def labeled_example(
    prediction: Prediction,
    location: tuple[int, int],
    truth: GroundTruth,
    truth_location: tuple[int, int],
    shadow: ShadowScore | None = None,
) -> LabeledExample:
    shadow_version, shadow_risk, shadow_label = shadow or (None, None, None)
    return LabeledExample(
        example_id=example_id(prediction.request_id),
        request_id=prediction.request_id,
        patient_ref=prediction.patient_ref,
        event_time=prediction.event_time,
        labeled_at=truth.event_time,
        features=measured_features(prediction),
        label=int(truth.outcome),
        risk=prediction.risk,
        predicted_label=prediction.label,
        model_version=prediction.model_version,
        prediction_partition=location[0],
        prediction_offset=location[1],
        truth_partition=truth_location[0],
        truth_offset=truth_location[1],
        source=prediction.source or truth.source,
        variant=prediction.variant,
        shadow_version=shadow_version,
        shadow_risk=shadow_risk,
        shadow_label=shadow_label,
    )


LabelFate = Literal["join", "late", "park", "unknown"]


def label_fate(cached: bool, seen: bool, age_ms: float, grace_ms: float) -> LabelFate:
    """What becomes of a label: joined to its cached prediction; a dead letter if its
    prediction was seen but has expired (late) or never came within the grace period
    (unknown); else parked in the grace set to wait for its prediction."""
    if cached:
        return "join"
    if seen:
        return "late"
    if age_ms < grace_ms:
        return "park"
    return "unknown"


class Joiner:
    def __init__(self, settings: LabelJoinerSettings, *, instance: str = "0") -> None:
        self.settings = settings
        self.stats = JoinerStats()
        self.metrics = WorkerMetrics("joiner")
        self.runtime = TransactionalRuntime(
            settings,
            GROUP,
            instance,
            [PREDICTIONS.name, SHADOW_PREDICTIONS.name, GROUND_TRUTH.name],
            self.metrics,
            cadence=Cadence(size=500, wait_s=0.2, linger_s=0.0),
        )
        self.codec = self.runtime.codec
        self._topics = {
            "predictions": settings.topic(PREDICTIONS.name),
            "shadow": settings.topic(SHADOW_PREDICTIONS.name),
            "truth": settings.topic(GROUND_TRUTH.name),
        }
        self.keyring = PatientKeyring(settings)
        self._pseudonym_key = b""  # read in run(): a constructor does no I/O

    @cached_property
    def redis(self) -> RedisClient:
        """Connected on first use: a worker is built, then started."""
        return connect(self.settings)

    @cached_property
    def parked(self) -> ParkedLabels:
        return ParkedLabels(self.settings, self.redis, self.keyring)

    def _prediction_key(self, request_id: str) -> str:
        return prediction_key(self.settings, request_id)

    def _shadow_key(self, request_id: str) -> str:
        return shadow_key(self.settings, request_id)

    def _seen_key(self, request_id: str) -> str:
        return seen_key(self.settings, request_id)

    def run(self, stop: threading.Event | None = None) -> JoinerStats:
        stop = stop or threading.Event()
        self._pseudonym_key = pseudonym_key(self.settings)
        self.keyring.load()
        self.runtime.start()
        try:
            self.runtime.run(self, stop)
        finally:
            self.keyring.close()
        return self.stats

    def tick(self) -> Batch | None:
        """With no message: the parked labels now due."""
        return self.process([])

    def process(self, messages: list[Message]) -> Batch | None:
        """Cache predictions, join labels (and parked labels now due): one transaction."""
        self.keyring.discard_unwritten()  # keys made for a batch that rolled back
        self.keyring.follow()  # a forgotten patient's keys go within seconds
        predictions = [m for m in messages if m.topic() == self._topics["predictions"]]
        labels = [m for m in messages if m.topic() == self._topics["truth"]]
        self._cache(predictions)
        self._cache_shadows([m for m in messages if m.topic() == self._topics["shadow"]])
        released = self.parked.due(time.time())
        if not messages and not released:
            return None
        # behind (a full batch): the predictions of these labels may still be in the backlog,
        # so a label's grace starts now, not when it was sent (a joiner catching up after an
        # outage longer than the grace dead-lettered half its labels as unknown)
        behind = len(messages) >= self.runtime.cadence.size
        examples, letters, parked = self._join(labels, behind)
        unreadable = 0
        for label in released:
            event = self._resolve_parked(label)
            if isinstance(event, LabeledExample):
                examples.append(event)
            elif event is not None:
                letters.append(event)
            else:
                unreadable += 1
        sealed = [self.keyring.seal(e) for e in examples]
        sealed_letters = [self.keyring.seal_letter(d, self._pseudonym_key) for d in letters]
        # a new patient's key commits with the first example or letter sealed under it
        outputs: list[Output[Any]] = [patient_key_output(k) for k in self.keyring.unwritten]
        outputs += [
            Output(LABELED_EXAMPLES, e.patient_ref.encode(), e, e.truth_partition) for e in sealed
        ]
        outputs += [Output(DEAD_LETTER, (d.patient_ref or "").encode(), d) for d in sealed_letters]

        def park() -> None:  # before the offsets commit: a crash then re-parks the same labels
            self.parked.park(parked)

        def done() -> None:
            self.keyring.written()
            self.parked.release(released)
            self.metrics.records_in.inc(len(messages))
            self.stats.parked += len(parked)
            self.stats.parked_unreadable += unreadable
            self.stats.dead_letters += len(letters)
            self.metrics.records_out(LABELED_EXAMPLES.name, len(examples))
            for letter in letters:
                self.metrics.dead_letter(letter.reason)

        return Batch(outputs, before_commit=park, after_commit=done)

    # -- predictions ----------------------------------------------------------------------

    def _cache(self, predictions: list[Message]) -> None:
        if not predictions:
            return
        ttl = self.settings.joiner_prediction_ttl_s
        pipe = self.redis.pipeline(transaction=False)
        for message in predictions:
            try:
                prediction = self.codec.decode_event(message.value(), Prediction)
            except CodecError:
                log.warning(
                    "joiner: undecodable prediction at %s/%s", message.partition(), message.offset()
                )
                continue
            rid = prediction.request_id
            location = CACHED_AT.pack(int(message.partition() or 0), int(message.offset() or 0))
            pipe.set(self._prediction_key(rid), location + (message.value() or b""), ex=ttl)
            pipe.set(self._seen_key(rid), b"1", ex=ttl * SEEN_TTL_FACTOR)
        pipe.execute()
        self.stats.predictions_cached += len(predictions)

    def _cache_shadows(self, shadows: list[Message]) -> None:
        if not shadows:
            return
        ttl = self.settings.joiner_prediction_ttl_s
        pipe = self.redis.pipeline(transaction=False)
        for message in shadows:
            try:
                p = self.codec.decode_event(message.value(), Prediction)
            except CodecError:
                log.warning(
                    "joiner: undecodable shadow prediction at %s/%s",
                    message.partition(),
                    message.offset(),
                )
                continue
            score = json.dumps([p.model_version, p.risk, p.label])
            pipe.set(self._shadow_key(p.request_id), score, ex=ttl)
        pipe.execute()
        self.stats.shadows_cached += len(shadows)

    def _shadow(self, raw: bytes | None) -> ShadowScore | None:
        if raw is None:
            return None
        version, risk, label = json.loads(raw)
        self.stats.joined_with_shadow += 1
        return str(version), float(risk), int(label)

    # -- labels ---------------------------------------------------------------------------

    def _join(
        self, labels: list[Message], behind: bool = False
    ) -> tuple[list[LabeledExample], list[DeadLetter], list[ParkedLabel]]:
        examples: list[LabeledExample] = []
        letters: list[DeadLetter] = []
        parked: list[ParkedLabel] = []
        decoded: list[tuple[Message, GroundTruth]] = []
        for message in labels:
            try:
                decoded.append((message, self.codec.decode_event(message.value(), GroundTruth)))
            except CodecError as exc:
                letters.append(self._letter(message, exc.reason, exc.message))
        if not decoded:
            return examples, letters, parked
        rids = [truth.request_id for _, truth in decoded]
        cached = mget(self.redis, [self._prediction_key(r) for r in rids])
        seen = mget(self.redis, [self._seen_key(r) for r in rids])
        shadows = mget(self.redis, [self._shadow_key(r) for r in rids])
        grace_ms = self.settings.joiner_grace_s * 1000
        now = now_ms()
        for (message, truth), hit, was_seen, shadow in zip(
            decoded, cached, seen, shadows, strict=True
        ):
            location = (int(message.partition() or 0), int(message.offset() or 0))
            age_ms = 0.0 if behind else now - int(message.timestamp()[1])
            fate = label_fate(hit is not None, was_seen is not None, age_ms, grace_ms)
            if fate == "join":
                assert hit is not None
                examples.append(self._example(hit, truth, location, shadow))
            elif fate == "late":
                self.stats.late_labels += 1
                letters.append(
                    self._letter(message, "late_label", "label arrived after its prediction's TTL")
                )
            elif fate == "park":
                parked.append(self._park(message, truth))
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
        self,
        hit: bytes,
        truth: GroundTruth,
        truth_location: tuple[int, int],
        shadow: bytes | None,
    ) -> LabeledExample:
        partition, offset = CACHED_AT.unpack_from(hit)
        prediction = self.codec.decode_event(hit[CACHED_AT.size :], Prediction)
        self.stats.joined += 1
        return labeled_example(
            prediction, (partition, offset), truth, truth_location, self._shadow(shadow)
        )

    def _park(self, message: Message, truth: GroundTruth) -> ParkedLabel:
        """The label sealed under the key of the patient its key names, as its dead letter
        would be; with no key, under the patient id it carries."""
        ref = keyed_ref(self._pseudonym_key, message.key()) or patient_ref(
            self._pseudonym_key, truth.patient_id
        )
        deadline = time.time() + self.settings.joiner_grace_s
        return self.parked.seal(consumed(message), truth.request_id, ref, deadline)

    def _resolve_parked(self, label: ParkedLabel) -> LabeledExample | DeadLetter | None:
        """A released label's example, or its dead letter when no prediction came; None when
        its patient was forgotten while it waited (nothing of them may be written again)."""
        original = self.parked.opened(label)
        if original is None:
            log.info("joiner: a parked label no longer opens (its patient was forgotten): dropped")
            return None
        truth = self.codec.decode_event(original.value, GroundTruth)
        hit = self.redis.get(self._prediction_key(truth.request_id))
        if hit is not None:
            shadow = self.redis.get(self._shadow_key(truth.request_id))
            return self._example(hit, truth, label.location, shadow)
        self.stats.unknown_labels += 1
        return DeadLetter.of(
            original,
            "joiner",
            "unknown_request_id",
            "no prediction arrived for this request id within the grace period",
        )

    def _letter(self, message: Message, reason: str, detail: str) -> DeadLetter:
        return dead_letter(message, "joiner", reason, detail)
