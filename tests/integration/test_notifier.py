"""The notifier against the real broker and Redis (#14): a webhook that fails its first two
requests gets every wanted event of a drift incident exactly once, signed; an alert the
monitor published twice is sent once, a silenced one not at all; a webhook that never answers
well gets dead letters with the original bytes and where they came from."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from riskstream.app.tools.alert_actions import silence
from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER, DRIFT_ALERTS, MODEL_VERSIONS
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.clients import codec_for
from riskstream.models.monitoring.notifications import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_valid,
    subject_key,
)
from riskstream.schemas.events import ModelVersionEvent
from riskstream.stream_processors.notifier import Notifier
from tests.integration.conftest import drain_committed, fresh_prefix
from tests.integration.servers import PrivateRedis
from tests.unit.schemas.samples import SAMPLES, drift_alert
from tests.waiting import wait_for

pytestmark = pytest.mark.integration
SECRET = "webhook-shared-secret"


class _Hook:
    """A webhook endpoint answering ``codes`` in turn, then the last one for ever."""

    def __init__(self, codes: list[int]) -> None:
        self.codes, self.received = codes, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = hook.codes.pop(0) if len(hook.codes) > 1 else hook.codes[0]
                hook.received.append((code, dict(self.headers), body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[tuple[dict[str, Any], bytes]]:
        return [(headers, body) for code, headers, body in self.received if code == 200]


@pytest.fixture
def hooks() -> Iterator[tuple[_Hook, _Hook]]:
    flaky, broken = _Hook([500, 500, 200]), _Hook([503])
    yield flaky, broken
    flaky.server.shutdown()
    broken.server.shutdown()


def test_every_wanted_event_reaches_the_webhook_once_signed_or_is_dead_lettered(
    topics: Settings, hooks: tuple[_Hook, _Hook]
) -> None:
    flaky, broken = hooks
    settings = topics.model_copy(
        update={
            "webhook_urls": SecretStr(f"{flaky.url},{broken.url}"),
            "webhook_secret": SecretStr(SECRET),
            "webhook_attempts": 4,
            "webhook_backoff_s": 0.05,
        }
    )
    notifier = Notifier(settings)
    stop = threading.Event()
    thread = threading.Thread(target=notifier.run, args=(stop,), daemon=True)
    thread.start()
    assert notifier.assigned.wait(60), "the notifier was given no partitions"
    published = _publish_an_incident_and_a_promotion(settings)
    wanted = {"a1", "a2", "a4", "v9"}
    wait_for(lambda: min(len(flaky.delivered()), notifier.failed) >= len(wanted), 60)
    stop.set()
    thread.join(30)

    ids = []
    for headers, body in flaky.delivered():
        stamp = int(headers[TIMESTAMP_HEADER])
        assert signature_valid(SECRET.encode(), stamp, body, headers[SIGNATURE_HEADER])
        payload = json.loads(body)["riskstream"]
        ids.append(payload.get("alert_id") or payload["event_id"])
    assert sorted(ids) == sorted(wanted)  # each once, after the first two tries failed
    assert [code for code, _, _ in flaky.received[:3]] == [500, 500, 200]
    assert len(broken.received) == 4 * len(wanted)  # every try of every event

    letters = drain_committed(settings, DEAD_LETTER.name, "DeadLetter", len(wanted), 30)
    assert len(letters) == len(wanted)
    for letter in letters:
        assert letter["processor"] == "notifier" and letter["reason"] == "webhook_failed"
        assert letter["detail"] == "webhook 2: HTTP 503 after 4 tries"
        assert letter["original_value"] in published
        assert letter["source_topic"] in {
            settings.topic(DRIFT_ALERTS.name),
            settings.topic(MODEL_VERSIONS.name),
        }
        assert broken.url not in json.dumps(letter, default=str)  # URLs carry tokens


def _publish_an_incident_and_a_promotion(settings: Settings) -> list[bytes]:
    """An incident's alerts (one below MEDIUM, one twice, one silenced, two resolutions) and
    a promotion; the encoded values published. Wanted on the webhook: a1, a2, a4 and v9."""
    glucose = drift_alert(alert_id="a1", severity="HIGH", feature="glucose")
    incident = [
        glucose,
        drift_alert(alert_id="a2", kind="SCORE_DRIFT", feature=None, severity="CRITICAL"),
        drift_alert(alert_id="a3", severity="LOW", feature="bmi"),  # below MEDIUM: not sent
        glucose,  # published twice by an at-least-once monitor: sent once
        drift_alert(alert_id="a6", severity="CRITICAL", feature="age"),  # silenced: not sent
        drift_alert(alert_id="a4", status="RESOLVED", severity="LOW", feature="glucose"),
        drift_alert(alert_id="a5", status="RESOLVED", severity="LOW", feature="bmi"),  # unsent
    ]
    silenced = drift_alert(alert_id="a6", severity="CRITICAL", feature="age")
    silence(settings, subject_key(silenced), 5, "ops", "known: the age field is being migrated")
    promoted = ModelVersionEvent.from_avro({**SAMPLES["ModelVersionEvent"], "event_id": "v9"})
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    published = []
    for topic, event in [(DRIFT_ALERTS.name, a) for a in incident] + [
        (MODEL_VERSIONS.name, promoted)
    ]:
        value = codec.encode_event(event)
        producer.produce(settings.topic(topic), key=b"m", value=value)
        published.append(value)
    assert producer.flush(30) == 0
    return published


def test_an_event_that_arrives_while_redis_is_down_is_sent_once_redis_is_back(
    stack: Settings, tmp_path: Path
) -> None:
    """The notifier keeps its de-duplication in Redis: while Redis is gone the event waits,
    uncommitted, and the worker lives; once Redis is back the webhook gets it, once."""
    redis = PrivateRedis(stack, tmp_path / "redis-home")
    redis.start()
    hook = _Hook([200])
    settings = redis.settings.model_copy(
        update={
            "topic_prefix": fresh_prefix("nr"),
            "topic_partitions": 1,
            "webhook_urls": SecretStr(hook.url),
        }
    )
    ensure_topics(settings)
    notifier = Notifier(settings)
    stop = threading.Event()
    thread = threading.Thread(target=notifier.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert notifier.assigned.wait(60), "the notifier was given no partitions"
        redis.crash()
        codec = codec_for(settings)
        producer = Producer(settings.kafka_config())
        alert = drift_alert(alert_id="during-outage", severity="HIGH")
        producer.produce(settings.topic(DRIFT_ALERTS.name), value=codec.encode_event(alert))
        assert producer.flush(30) == 0
        time.sleep(3)  # the notifier meets the outage, and retries
        assert thread.is_alive() and not hook.received
        redis.start()
        wait_for(hook.delivered, 30)
        time.sleep(1.5)  # a repeat would arrive by now
    finally:
        stop.set()
        thread.join(30)
        hook.server.shutdown()
        redis.server.process.stop()
    bodies = [json.loads(body)["riskstream"]["alert_id"] for _, body in hook.delivered()]
    assert bodies == ["during-outage"]
