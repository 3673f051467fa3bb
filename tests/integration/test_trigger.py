"""The retrain trigger against the real broker and Redis: one request per incident, and a
request from the label count."""

from __future__ import annotations

import threading
import time
from typing import Any

from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS, LABELED_EXAMPLES, RETRAIN_REQUESTS
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.clients import codec_for, publish_events
from riskstream.schemas.events import DriftAlert, LabeledExample
from riskstream.stream_processors.trigger import Trigger
from tests.integration.conftest import fresh_prefix, read_messages
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for


def _deployment(stack: Settings, **changes: Any) -> Settings:
    settings = stack.model_copy(
        update={"topic_prefix": fresh_prefix("tg"), "topic_partitions": 2, **changes}
    )
    ensure_topics(settings)
    return settings


def _requests(settings: Settings, wait_s: float) -> list[dict[str, Any]]:
    """Every retrain request on the topic once ``wait_s`` pass without another."""
    codec = codec_for(settings)
    read = read_messages(settings, settings.topic(RETRAIN_REQUESTS.name), 0, 60, quiet_s=wait_s)
    return [codec.decode(m.value(), "RetrainRequest") for m in read]


def _alert(severity: str, alert_id: str, feature: str = "glucose") -> tuple[bytes, DriftAlert]:
    sample = {**SAMPLES["DriftAlert"], "alert_id": alert_id, "severity": severity}
    return feature.encode(), DriftAlert.from_avro({**sample, "feature": feature})


def _run(trigger: Trigger, until: Any, timeout: float = 30) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=trigger.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(until, timeout)
    time.sleep(2)  # anything more it would do, it does now
    stop.set()
    thread.join(20)


def test_one_incident_yields_one_request(stack: Settings) -> None:
    settings = _deployment(stack, trigger_cooldown_s=600)
    publish_events(
        settings,
        DRIFT_ALERTS.name,
        [
            _alert("LOW", "low-1"),
            _alert("HIGH", "high-1"),
            _alert("CRITICAL", "high-2", "bmi"),
            _alert("HIGH", "high-3", "glucose_per_age"),
        ],
    )
    trigger = Trigger(settings)
    _run(trigger, lambda: len(trigger.requests) >= 1)
    requests = _requests(settings, wait_s=4)
    assert len(requests) == 1, requests
    assert requests[0]["reasons"] == ["DRIFT_ALERT"]
    # the alerts are keyed by feature, so on different partitions: whichever HIGH+ alert the
    # trigger reads first opens the incident, and the other two fall in its cooldown
    assert len(requests[0]["alert_ids"]) == 1
    assert requests[0]["alert_ids"][0] in {"high-1", "high-2", "high-3"}
    assert len(trigger.absorbed) == 2
    # A restarted trigger remembers the cooldown (its state is in Redis).
    publish_events(settings, DRIFT_ALERTS.name, [_alert("HIGH", "high-4")])
    again = Trigger(settings)
    # Rejoining the group can wait for the old member's session to end: allow for it.
    _run(again, lambda: bool(again.absorbed), timeout=60)
    assert list(again.requests) == [] and list(again.absorbed) == ["DRIFT_ALERT"], (
        again.requests,
        again.absorbed,
    )


def test_enough_labeled_examples_request_a_retrain(stack: Settings) -> None:
    settings = _deployment(stack, trigger_label_count=40, trigger_cooldown_s=0)
    example = SAMPLES["LabeledExample"]
    publish_events(
        settings,
        LABELED_EXAMPLES.name,
        [
            (
                b"p",
                LabeledExample.from_avro({**example, "example_id": str(i), "request_id": f"r{i}"}),
            )
            for i in range(45)
        ],
    )
    trigger = Trigger(settings)
    _run(trigger, lambda: len(trigger.requests) >= 1)
    requests = _requests(settings, wait_s=4)
    assert [r["reasons"] for r in requests] == [["LABEL_COUNT"]]
    assert requests[0]["detail"] == "45 new labeled examples"  # one batch, counted whole
    assert trigger.load_state().labels_since_request == 0
