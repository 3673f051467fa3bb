"""The foundation against the real broker and Redis: codec, catalog, prefixes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from riskstream.core.errors import TopicError
from riskstream.core.settings import Settings
from riskstream.core.topics import CATALOG, DAY_MS, PATIENT_RECORDS, PREDICTIONS, TopicSpec
from riskstream.io.kafka.admin import ensure_topics
from riskstream.schemas import AvroCodec
from riskstream.schemas.events import GroundTruth
from tests.integration.conftest import fresh_prefix, read_messages
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for


def test_patient_record_round_trips_through_the_broker(topics: Settings) -> None:
    codec = AvroCodec()
    topic = topics.topic(PATIENT_RECORDS.name)
    producer = Producer(topics.kafka_config())
    sent = []
    for i in range(20):
        record = dict(
            SAMPLES["PatientRecord"],
            request_id=f"r-{i}",
            patient_id=f"p-{i % 7}",
            glucose=100.0 + i,
        )
        sent.append(record)
        producer.produce(
            topic, key=record["patient_id"].encode(), value=codec.encode("PatientRecord", record)
        )
    assert producer.flush(10) == 0
    messages = read_messages(topics, topic, len(sent))
    received = {}
    for msg in messages:
        record = codec.decode(msg.value(), "PatientRecord")
        assert msg.key().decode() == record["patient_id"]
        received[record["request_id"]] = record["glucose"]
    assert received == {r["request_id"]: r["glucose"] for r in sent}


def test_topic_creation_is_idempotent_and_reports_a_layout_mismatch(
    deployment: Settings,
) -> None:
    first = ensure_topics(deployment)
    second = ensure_topics(deployment)
    assert all(s.created for s in first)
    assert not any(s.created for s in second)
    assert [s.name for s in first] == [deployment.topic(t.name) for t in CATALOG]

    metadata = AdminClient(deployment.kafka_config()).list_topics(timeout=10).topics
    assert len(metadata[deployment.topic("predictions")].partitions) == 6
    assert len(metadata[deployment.topic("model-versions")].partitions) == 1

    with pytest.raises(TopicError) as caught:
        ensure_topics(deployment.model_copy(update={"topic_partitions": 4}))
    assert caught.value.context["existing"] == 6
    assert caught.value.context["expected"] == 4


def test_model_versions_is_created_compacted(topics: Settings) -> None:
    from confluent_kafka.admin import ConfigResource, ResourceType

    admin = AdminClient(topics.kafka_config())
    resource = ConfigResource(ResourceType.TOPIC, topics.topic("model-versions"))
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["cleanup.policy"].value == "compact"


def test_retention_is_the_setting_on_creation_and_follows_it_on_existing_topics(
    deployment: Settings,
) -> None:
    """RISKSTREAM_TOPIC_RETENTION_DAYS over the catalog's defaults: new topics are created
    with it, and a changed setting reaches topics that already exist (as at a worker's next
    start); topics the setting does not name keep the catalog's."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    def retention_days(settings: Settings, name: str) -> float:
        admin = AdminClient(settings.kafka_config())
        resource = ConfigResource(ResourceType.TOPIC, settings.topic(name))
        config = admin.describe_configs([resource])[resource].result(timeout=10)
        return int(config["retention.ms"].value) / DAY_MS

    def settled(condition: Callable[[], bool], what: str) -> None:
        wait_for(condition, 30, every=0.2)
        assert condition(), f"the broker never reported {what}"

    first = deployment.model_copy(update={"topic_retention_days": {"labeled-examples": 180}})
    ensure_topics(first)
    assert retention_days(first, "labeled-examples") == 180
    assert retention_days(first, "predictions") == PREDICTIONS.retention_ms / DAY_MS == 7
    changed = deployment.model_copy(
        update={"topic_retention_days": {"labeled-examples": 30, "predictions": 2.5}}
    )
    assert not any(s.created for s in ensure_topics(changed))
    # an altered config reaches the brokers through the controller's log: soon, not at once
    # (CI read the old value right after the change)
    settled(lambda: retention_days(changed, "labeled-examples") == 30, "labeled-examples 30 d")
    settled(lambda: retention_days(changed, "predictions") == 2.5, "predictions 2.5 d")
    ensure_topics(deployment)  # the setting removed: back to the catalog's defaults
    settled(lambda: retention_days(deployment, "labeled-examples") == 365, "back to 365 d")


def test_a_prefix_isolates_two_deployments(stack: Settings) -> None:
    blue = stack.model_copy(update={"topic_prefix": fresh_prefix("blue"), "topic_partitions": 1})
    green = stack.model_copy(update={"topic_prefix": fresh_prefix("green"), "topic_partitions": 1})
    spec = [TopicSpec("ground-truth", "patient_id", GroundTruth, "test")]
    ensure_topics(blue, spec)
    ensure_topics(green, spec)
    codec = AvroCodec()
    producer = Producer(blue.kafka_config())
    producer.produce(
        blue.topic("ground-truth"), codec.encode("GroundTruth", SAMPLES["GroundTruth"])
    )
    assert producer.flush(10) == 0
    assert len(read_messages(blue, blue.topic("ground-truth"), 1)) == 1
    assert read_messages(green, green.topic("ground-truth"), 1, timeout=4) == []

    client = redis.Redis.from_url(stack.redis_url.get_secret_value())
    client.set(blue.redis_key("probe"), "blue")
    client.set(green.redis_key("probe"), "green")
    assert client.get(blue.redis_key("probe")) == b"blue"
    assert client.get(green.redis_key("probe")) == b"green"
    client.delete(blue.redis_key("probe"), green.redis_key("probe"))


def test_redis_is_reachable(stack: Settings) -> None:
    client = redis.Redis.from_url(stack.redis_url.get_secret_value())
    assert client.ping() is True
    assert int(client.info("server")["redis_version"].split(".")[0]) >= 6


def test_writing_to_a_prefix_without_topics_names_the_topic_and_the_command(
    stack: Settings,
) -> None:

    from riskstream.core.errors import TopicError
    from riskstream.io.kafka.clients import publish_events
    from riskstream.schemas.events import ModelVersionEvent
    from tests.unit.schemas.samples import SAMPLES

    fresh = stack.model_copy(update={"topic_prefix": fresh_prefix("none")})
    with pytest.raises(TopicError) as raised:
        event = ModelVersionEvent.from_avro(SAMPLES["ModelVersionEvent"])
        publish_events(fresh, "model-versions", [(b"k", event)])
    text = str(raised.value)
    assert fresh.topic("model-versions") in text and "riskstream topics create" in text
