"""The retrain trigger (`riskstream run trigger`): drift-alerts + labeled-examples →
retrain-requests.

A faust-streaming agent takes alerts and labeled examples in batches and a Faust timer ticks
the schedule; the policy (``trigger_policy``) is pure; its state (last request time, labels
since) lives in Redis so a restart keeps the cooldown. Guarantee: at-least-once. A request is
published before the state is saved and the worker commits the offsets, so a crash in between can
repeat a request; the trainer merges requests that arrive while it trains, and the repeat
carries the same reasons.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from functools import cached_property

from riskstream.core.recent import recent_list
from riskstream.core.topics import DRIFT_ALERTS, LABELED_EXAMPLES, RETRAIN_REQUESTS
from riskstream.core.worker_slices import RetrainTriggerSettings, TriggerSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.contract import retry_while_unavailable
from riskstream.io.kafka.faust_worker import FaustRuntime, Record
from riskstream.io.kafka.model_events import publish_retrain_request
from riskstream.io.ops import WorkerMetrics
from riskstream.io.redis_client import RedisClient, connect
from riskstream.models.monitoring.trigger_policy import (
    Decision,
    Request,
    TriggerConfig,
    TriggerState,
    on_alert,
    on_labels,
    on_tick,
)
from riskstream.schemas import CodecError
from riskstream.schemas.events import DriftAlert

log = logging.getLogger(__name__)
GROUP = "riskstream-trigger"


def config_of(settings: TriggerSettings) -> TriggerConfig:
    return TriggerConfig(
        min_severity=settings.trigger_min_severity.upper(),
        label_count=settings.trigger_label_count,
        cooldown_ms=int(settings.trigger_cooldown_s * 1000),
        schedule_ms=int(settings.trigger_schedule_s * 1000),
        on_estimate=settings.trigger_on_estimate,
        on_segment=settings.trigger_on_segment,
    )


class Trigger:
    def __init__(self, settings: RetrainTriggerSettings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.config = config_of(settings)
        self._state_key = settings.redis_key("trigger", "state")
        # the latest requests and absorbed alerts (bounded): requests are on their topic
        self.requests: deque[tuple[str, Request]] = recent_list()
        self.absorbed: deque[str] = recent_list()
        self.metrics = WorkerMetrics("trigger")
        self._state = TriggerState(None, 0)
        self._alerts = settings.topic(DRIFT_ALERTS.name)

    @cached_property
    def redis(self) -> RedisClient:
        """Connected on first use: a worker is built, then started."""
        return connect(self.settings)

    def load_state(self) -> TriggerState:
        raw = self.redis.hgetall(self._state_key)
        last = raw.get(b"last_request_ms")
        return TriggerState(
            int(last) if last not in (None, b"") else None,
            int(raw.get(b"labels_since_request", 0)),
        )

    def save_state(self, state: TriggerState) -> None:
        self.redis.hset(
            self._state_key,
            mapping={
                "last_request_ms": "" if state.last_request_ms is None else state.last_request_ms,
                "labels_since_request": state.labels_since_request,
            },
        )

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        done, state = retry_while_unavailable(self.load_state, "trigger", stop, "its state")
        if not done or state is None:
            return  # stopped before Redis answered
        self._state = state
        self.metrics.ready = True
        runtime = FaustRuntime(
            self.settings, GROUP, self.metrics, size=500, within_s=0.5, tick_s=1.0
        )
        runtime.run(self, [self._alerts, self.settings.topic(LABELED_EXAMPLES.name)], stop)

    def process(self, records: list[Record]) -> None:
        self._step(records)

    def tick(self) -> None:
        """The cooldown's end and the optional schedule."""
        self._step([])

    def _step(self, records: list[Record]) -> None:
        """One batch. The state lives in memory and is saved to Redis after each batch, so a
        Redis restart loses nothing while this worker runs; a batch retried after a Redis
        error meets the cooldown the first pass already set."""
        state = self._state
        now = int(time.time() * 1000)
        labels = 0
        for record in records:
            if record.topic != self._alerts:
                labels += 1
                continue
            try:
                alert = self.codec.decode_event(record.value, DriftAlert)
            except CodecError:
                log.warning("trigger: undecodable alert at offset %s", record.offset)
                continue
            state = self._act(on_alert(alert, state, now, self.config))
        if labels:
            state = self._act(on_labels(labels, state, now, self.config))
        state = self._act(on_tick(state, now, self.config))
        self._state = state
        self.save_state(state)
        self.metrics.records_in.inc(len(records))

    def _act(self, decision: Decision) -> TriggerState:
        if decision.absorbed:
            self.absorbed += decision.absorbed
            log.info(
                "trigger: %s within the cooldown: part of the incident already requested",
                ",".join(decision.absorbed),
            )
        if decision.request is not None:
            request = decision.request
            retrain_id = publish_retrain_request(
                self.settings,
                request.reasons,
                range_start=request.range_start,
                alert_ids=request.alert_ids,
                detail=request.detail,
            )
            self.requests.append((retrain_id, request))
            self.metrics.records_out(RETRAIN_REQUESTS.name)
            log.info(
                "trigger: requested retrain %s (%s: %s)",
                retrain_id,
                "+".join(request.reasons),
                request.detail,
            )
        return decision.state
