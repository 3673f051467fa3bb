"""The label joiner against the real broker and Redis: joins, late and unknown labels."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from confluent_kafka import Producer

from riskstream.app.tools.forget import forget
from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER, GROUND_TRUTH, LABELED_EXAMPLES, PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.schemas.events import LabeledExample
from riskstream.stream_processors.joiner import Joiner, example_id
from riskstream.stream_processors.labeled_examples import open_examples
from tests.integration.conftest import drain_committed
from tests.integration.redis_contents import held_in_redis
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import eventually

DEPLOYMENT = {
    "stem": "jn",
    "topics": True,
    "topic_partitions": 2,
    "joiner_prediction_ttl_s": 3,
    "joiner_grace_s": 2.0,
}


def _produce(settings: Settings, topic: str, event_type: str, events: list[dict]) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    for event in events:
        producer.produce(
            settings.topic(topic),
            key=event["patient_id"].encode(),
            value=codec.encode(event_type, event),
        )
    assert producer.flush(15) == 0


def _prediction(i: int) -> dict[str, Any]:
    return {
        **SAMPLES["Prediction"],
        "prediction_id": str(uuid.uuid4()),
        "request_id": f"rq-{i}",
        "patient_id": f"p-{i}",
        "risk": i / 100,
        "label": int(i % 2),
        "model_version": "4",
    }


def _truth(i: int) -> dict[str, Any]:
    return {
        **SAMPLES["GroundTruth"],
        "label_id": str(uuid.uuid4()),
        "request_id": f"rq-{i}",
        "patient_id": f"p-{i}",
        "outcome": int(i % 3 == 0),
    }


def test_labels_join_and_late_or_unknown_ones_are_dead_lettered(deployment: Settings) -> None:
    joiner = Joiner(deployment)
    stop = threading.Event()
    thread = threading.Thread(target=joiner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _produce(deployment, PREDICTIONS.name, "Prediction", [_prediction(i) for i in range(40)])
        time.sleep(1.5)
        # 30 labels on time; request 90 never had a prediction.
        _produce(
            deployment,
            GROUND_TRUTH.name,
            "GroundTruth",
            [_truth(i) for i in range(30)] + [_truth(90)],
        )
        examples = drain_committed(deployment, LABELED_EXAMPLES.name, "LabeledExample", 30)
        time.sleep(3.5)  # the remaining predictions' TTL (3 s) runs out
        _produce(deployment, GROUND_TRUTH.name, "GroundTruth", [_truth(i) for i in (35, 36)])
        letters = drain_committed(deployment, DEAD_LETTER.name, "DeadLetter", 3)
    finally:
        stop.set()
        thread.join(30)
    assert sorted(e["request_id"] for e in examples) == sorted(f"rq-{i}" for i in range(30))
    one = next(e for e in examples if e["request_id"] == "rq-3")
    assert one["label"] == 1 and one["predicted_label"] == 1 and one["risk"] == 0.03
    assert one["model_version"] == "4" and one["example_id"] == example_id("rq-3")
    # the features are sealed under the patient's key at rest, and open with it
    assert one["features"] == {} and one["sealed_features"] and one["features_key_id"]
    (opened,), unreadable = open_examples(deployment, [LabeledExample.from_avro(one)])
    assert opened is not None and unreadable == 0
    assert opened.features == SAMPLES["Prediction"]["features"]
    assert one["truth_offset"] >= 0 and one["prediction_offset"] >= 0
    reasons = sorted((letter["reason"], letter["source_topic"]) for letter in letters)
    truth_topic = deployment.topic(GROUND_TRUTH.name)
    assert reasons == [
        ("late_label", truth_topic),
        ("late_label", truth_topic),
        ("unknown_request_id", truth_topic),
    ]
    assert joiner.stats.joined == 30
    assert joiner.stats.late_labels == 2 and joiner.stats.unknown_labels == 1
    assert joiner.stats.parked == 1  # request 90 waited out its grace period first


def test_a_label_that_overtakes_its_prediction_waits_and_joins(deployment: Settings) -> None:
    joiner = Joiner(deployment.model_copy(update={"joiner_grace_s": 20.0}))
    stop = threading.Event()
    thread = threading.Thread(target=joiner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _produce(deployment, GROUND_TRUTH.name, "GroundTruth", [_truth(100)])
        time.sleep(2)
        _produce(deployment, PREDICTIONS.name, "Prediction", [_prediction(100)])
        examples = drain_committed(deployment, LABELED_EXAMPLES.name, "LabeledExample", 1)
    finally:
        stop.set()
        thread.join(30)
    assert [e["request_id"] for e in examples] == ["rq-100"]
    assert joiner.stats.parked == 1 and joiner.stats.joined == 1
    assert joiner.stats.unknown_labels == 0


def test_a_parked_label_is_sealed_in_redis_and_forgetting_its_patient_drops_it(
    deployment: Settings,
) -> None:
    """While a label waits for its prediction, Redis holds neither its patient id nor its
    bytes, in the clear or hex-encoded; `riskstream forget` removes it, and its prediction
    arriving afterwards joins nothing."""
    settings = deployment.model_copy(update={"joiner_grace_s": 60.0})
    joiner = Joiner(settings)
    stop = threading.Event()
    thread = threading.Thread(target=joiner.run, args=(stop,), daemon=True)
    thread.start()
    truth = _truth(201)
    try:
        _produce(settings, GROUND_TRUTH.name, "GroundTruth", [truth, _truth(202)])
        eventually(lambda: joiner.stats.parked == 2, 60, "the joiner parks both labels")
        held = b"".join(k + b"".join(v) for k, v in held_in_redis(settings).items())
        assert b":joiner:parked" in held  # the scan sees the grace set
        for secret in (b"p-201", truth["label_id"].encode()):
            assert secret not in held and secret.hex().encode() not in held, secret
        erasure = forget(settings, "p-201", reason="test", actor="tester")
        assert erasure.cache_entries == 1  # the parked label, and only it
        _produce(settings, PREDICTIONS.name, "Prediction", [_prediction(i) for i in (201, 202)])
        (example,) = drain_committed(settings, LABELED_EXAMPLES.name, "LabeledExample", 1)
    finally:
        stop.set()
        thread.join(30)
    assert example["request_id"] == "rq-202"  # the other patient's label joined
    assert joiner.stats.joined == 1 and joiner.stats.unknown_labels == 0
