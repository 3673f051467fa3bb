"""The notifier (`riskstream run notifier`): drift-alerts + model-versions → webhooks.

Each alert at or above ``RISKSTREAM_WEBHOOK_MIN_SEVERITY`` (and the RESOLVED alert of one
that was sent), and each promotion, rollback, challenge, rejection, confirmation or failed
training, is POSTed to every URL of ``RISKSTREAM_WEBHOOK_URLS`` as Slack-compatible JSON
(``notifications``), signed with HMAC-SHA256 when ``RISKSTREAM_WEBHOOK_SECRET`` is set. A
failed try (network error, timeout, 429, 5xx) is retried with doubling waits; after the last
one, or on another 4xx, the event goes to `dead-letter` with its original bytes and the
webhook's number (never its URL: such URLs carry tokens).

Guarantee: at-least-once delivery (the at-least-once engine), de-duplicated by event id. The
offset is committed after every webhook has the event (or its dead letter is written), and a
delivery is recorded in Redis (7 days) before that, so a restarted notifier skips what was
sent. Only a Redis that lost its keys between a delivery and the commit repeats one; while
Redis does not answer, the event waits, uncommitted, and is taken again each second. It runs
as a process of its own: a slow or dead endpoint holds back nothing but this worker's own lag.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Message, TopicPartition

from riskstream.core.topics import DEAD_LETTER, DRIFT_ALERTS, MODEL_VERSIONS
from riskstream.core.worker_slices import NotifierSettings
from riskstream.io.kafka.at_least_once import AtLeastOnceRuntime, GroupSource
from riskstream.io.kafka.clients import codec_for, start_offsets
from riskstream.io.kafka.contract import Batch, Cadence, Output
from riskstream.io.kafka.dead_letter import dead_letter
from riskstream.io.ops import WorkerMetrics
from riskstream.io.redis_client import RedisClient, connect
from riskstream.models.monitoring.notifications import (
    SIGNATURE_HEADER,
    SILENCE_KEY,
    TIMESTAMP_HEADER,
    Notification,
    alert_notification,
    alert_wanted,
    backoff_s,
    retryable,
    signature,
    subject_key,
    version_notification,
)
from riskstream.schemas import CodecError
from riskstream.schemas.events import DeadLetter, DriftAlert, ModelVersionEvent

log = logging.getLogger(__name__)
GROUP = "riskstream-notifier"
SENT_TTL_S = 7 * 24 * 3600


class Notifier:
    """The notifier, a worker of the at-least-once engine: one event a batch, its offset
    committed once every webhook had it (or its dead letter is written)."""

    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.urls = settings.webhooks
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.metrics = WorkerMetrics("notifier")
        self.sent = 0
        self.failed = 0
        self.assigned = threading.Event()  # set once the group gave this worker partitions
        self._letters: list[Output[DeadLetter]] = []
        self._marks: list[str] = []  # webhooks of dead letters not yet delivered
        self.redis: RedisClient
        # a new notifier starts at the topics' end (see ``_start``): the history is not news
        source = GroupSource(
            settings,
            GROUP,
            [DRIFT_ALERTS.name, MODEL_VERSIONS.name],
            {"auto.offset.reset": "latest", "max.poll.interval.ms": 900_000},  # retries wait
            on_assign=self._start,
        )
        self.runtime = AtLeastOnceRuntime(
            settings, "notifier", self.metrics, source, cadence=Cadence(1, 0.5, 0.0)
        )

    def run(self, stop: threading.Event | None = None) -> None:
        if not self.urls:
            log.warning("notifier: RISKSTREAM_WEBHOOK_URLS is empty: nothing to send to")
        if self.urls and not self.secret:
            log.warning("notifier: RISKSTREAM_WEBHOOK_SECRET is empty: requests go unsigned")
        self.redis = connect(self.settings)
        self.runtime.run(self, stop or threading.Event())

    def _start(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resolve "the end" when partitions are assigned, not at the first fetch: an event
        published once this worker holds its partitions is news, however soon it comes."""
        consumer.assign(start_offsets(consumer, partitions, "notifier"))
        self.assigned.set()

    def process(self, records: list[Message]) -> Batch:
        """Send each event to every webhook that has not had it. Its dead letters go out
        before the offset is committed, and a dead-lettered webhook counts as handled only
        once they are out (``before_commit``): one not delivered is made again."""
        for message in records:
            self.handle(message)
        self.metrics.records_in.inc(len(records))
        letters, self._letters = self._letters, []
        marks, self._marks = self._marks, []

        def handled() -> None:
            for key in marks:
                self.redis.set(key, 1, ex=SENT_TTL_S)

        return Batch(list(letters), before_commit=handled if marks else None)

    def tick(self) -> None:
        return None

    def handle(self, message: Message) -> None:
        """Send one event to every webhook that has not had it yet."""
        notification = self._notification(message)
        if notification is None:
            return
        for number, url in enumerate(self.urls, 1):
            # keyed by a digest of the URL: stable if the list is reordered, and no token kept
            hook = hashlib.sha256(url.encode()).hexdigest()[:16]
            key = self.settings.redis_key("notified", hook, notification.event_id)
            if self.redis.exists(key):
                continue  # sent before a restart or a rebalance
            failure = self._deliver(url, notification)
            if failure is None:
                self.sent += 1
                self.metrics.records_out("webhook")
                self.redis.set(key, 1, ex=SENT_TTL_S)  # sent: handled once
            else:
                self._dead_letter(message, number, failure)
                self._marks.append(key)  # handled once its dead letter is out

    def _dead_letter(self, message: Message, number: int, failure: str) -> None:
        self.failed += 1
        self._send_dead_letter(message, "webhook_failed", f"webhook {number}: {failure}")
        log.error(
            "notifier: webhook %d did not take an event (%s); it is on the dead-letter topic",
            number,
            failure,
        )

    def _send_dead_letter(self, message: Message, reason: str, detail: str) -> None:
        self.metrics.dead_letter(reason)
        letter = dead_letter(message, "notifier", reason, detail)
        self._letters.append(Output(DEAD_LETTER, message.key(), letter))

    def _notification(self, message: Message) -> Notification | None:
        alerts = message.topic() == self.settings.topic(DRIFT_ALERTS.name)
        try:
            if not alerts:
                event = self.codec.decode_event(message.value(), ModelVersionEvent)
                return version_notification(event)
            alert = self.codec.decode_event(message.value(), DriftAlert)
        except CodecError as exc:
            self._send_dead_letter(message, "undecodable", exc.message)
            return None
        subject = subject_key(alert)
        if alert.status == "FIRING" and self.redis.exists(
            self.settings.redis_key(SILENCE_KEY, subject)
        ):
            log.info("notifier: alert %s is silenced; not sent", alert.alert_id)
            return None
        firing = self.settings.redis_key("notified-firing", subject)
        sent_firing = bool(self.redis.exists(firing))
        if not alert_wanted(alert, self.settings.webhook_min_severity, sent_firing):
            return None
        if alert.status == "FIRING":
            self.redis.set(firing, 1, ex=SENT_TTL_S)
        else:
            self.redis.delete(firing)
        return alert_notification(alert)

    def _deliver(self, url: str, notification: Notification) -> str | None:
        """None once delivered; else what went wrong on the last try."""
        s = self.settings
        body = notification.body()
        failure = ""
        for attempt in range(1, s.webhook_attempts + 1):
            if attempt > 1:
                time.sleep(backoff_s(attempt, s.webhook_backoff_s))
            status, failure = self._post(url, body)
            if status is not None and 200 <= status < 300:
                return None
            if not retryable(status):
                break
            log.warning("notifier: try %d of %d failed (%s)", attempt, s.webhook_attempts, failure)
        return f"{failure} after {attempt} tries"

    def _post(self, url: str, body: bytes) -> tuple[int | None, str]:
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, timestamp, body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.webhook_timeout_s) as r:
                return int(r.status), f"HTTP {r.status}"
        except urllib.error.HTTPError as exc:
            return int(exc.code), f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            return None, f"no answer ({type(exc).__name__})"
