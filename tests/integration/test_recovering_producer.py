"""The recovering producer on real librdkafka clients and the real broker: the records a
client without broker addresses holds are purged, handed to a new client and written once."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import KafkaError, Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS
from riskstream.io.kafka.factory import idempotent_config
from riskstream.io.kafka.recovering_producer import RecoveringProducer
from tests.integration.conftest import read_messages

DEPLOYMENT = {"stem": "rp"}


def test_records_held_by_a_client_without_brokers_arrive_once_through_its_replacement(
    topics: Settings,
) -> None:
    topic = topics.topic(DRIFT_ALERTS.name)
    configs: list[dict[str, Any]] = []

    def make(config: dict[str, Any]) -> Producer:
        configs.append(config)
        if len(configs) == 1:  # the first client has no broker to reach: its records wait
            return Producer({**config, "bootstrap.servers": "127.0.0.1:1"})
        return Producer(config)

    skipped = [0.0]
    producer = RecoveringProducer(
        idempotent_config(topics), make=make, clock=lambda: time.monotonic() + skipped[0]
    )
    outcomes: list[KafkaError | None] = []
    sent = [f"r{i}".encode() for i in range(20)]
    for value in sent:
        producer.produce(topic, key=b"k", value=value, on_delivery=lambda e, _: outcomes.append(e))
    assert producer.flush(1.0) == len(sent)  # nothing can leave the first client

    configs[0]["stats_cb"](json.dumps({"brokers": {}}))  # what a client that lost them reports
    skipped[0] = 10.0  # ... for 10 s
    assert producer.flush(30) == 0
    assert producer.replacements == 1 and len(configs) == 2
    assert outcomes == [None] * len(sent)  # each callback once: delivered, not purged

    written = read_messages(topics, topic, len(sent), timeout=30, quiet_s=2.0)
    assert [m.value() for m in written] == sent  # once each, in order
