"""The drift monitor (`riskstream run monitor`): predictions → Redis windows → drift-alerts.

Each prediction is counted into a tumbling event-time window over the bin edges of the
current champion's reference distribution (windows are keyed by that champion version; the
monitor re-reads the `champion` alias every ``CHAMPION_CHECK_S`` seconds). When the worker's
event-time watermark passes a window's end plus the allowed lateness, one worker (elected in
Redis) closes it,
compares it with the reference (PSI, KS, JS; see ``statistics``) and raises a FIRING alert
when a feature enters drift and a RESOLVED one when it leaves.

Guarantee: window counts are exact (each record counted once: offsets commit after the Redis
update, and replays are filtered by the last applied offset per window and partition); alerts
are at-least-once (a worker killed between publishing an alert and recording the new drift
state may publish it again).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message, Producer

from models.bundle import ModelLoadError
from models.registry import CHAMPION, Registry
from riskstream.kafka.clients import codec_for, group_consumer, new_id, now_ms
from riskstream.settings import Settings
from riskstream.topics import DRIFT_ALERTS, PREDICTIONS
from schemas import CodecError
from stream_processors.statistics import DriftThresholds, FeatureVerdict, drift_verdicts
from stream_processors.window_store import WindowStore
from stream_processors.windows import Observation, count_fields, group_by_window, histograms

log = logging.getLogger(__name__)
GROUP = "riskstream-monitor"
CHAMPION_CHECK_S = 10.0
SCORE = "__score__"


@dataclass
class MonitorStats:
    records: int = 0
    windows_closed: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[int, list[FeatureVerdict]] = field(default_factory=dict)


def thresholds_of(settings: Settings) -> DriftThresholds:
    return DriftThresholds(
        psi_low=settings.drift_psi_low,
        psi_medium=(settings.drift_psi_low + settings.drift_psi_high) / 2,
        psi_high=settings.drift_psi_high,
        psi_critical=2 * settings.drift_psi_high,
        alpha=settings.drift_alpha,
        min_sample=settings.drift_min_sample,
    )


class Monitor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.store = WindowStore(settings)
        self.registry = Registry(settings)
        self.thresholds = thresholds_of(settings)
        self.size_ms = settings.monitor_window_s * 1000
        self.lateness_ms = settings.monitor_lateness_s * 1000
        self.stats = MonitorStats()
        self._references: dict[str, dict[str, Any]] = {}
        self._version: str | None = None
        self._checked = 0.0
        self._partition_time: dict[int, int] = {}  # partition → max event time seen
        self.consumer = group_consumer(settings, GROUP)
        self.producer = Producer(settings.kafka_config({"enable.idempotence": True}))

    def reference(self, version: str) -> dict[str, Any]:
        if version not in self._references:
            self._references[version] = self.registry.load(version).reference
        return self._references[version]

    def _champion(self, stop: threading.Event) -> str | None:
        """The champion version, re-read from the registry at most every CHAMPION_CHECK_S."""
        now = time.monotonic()
        if self._version is not None and now - self._checked < CHAMPION_CHECK_S:
            return self._version
        announced = False
        while not stop.is_set():
            version = self.registry.alias_version(CHAMPION)
            if version is not None:
                try:
                    self.reference(version)
                except ModelLoadError as exc:
                    log.error(
                        "monitor: champion %s does not load (%s); keeping %s",
                        version,
                        exc.message,
                        self._version,
                    )
                    version = self._version
                if version is not None:
                    if version != self._version:
                        log.info("monitor: binning over champion %s's reference", version)
                    self._version, self._checked = version, now
                    return version
            if not announced:
                log.warning("monitor: no champion yet; waiting (`riskstream model train`)")
                announced = True
            stop.wait(5.0)
        return None

    def run(self, stop: threading.Event | None = None) -> MonitorStats:
        stop = stop or threading.Event()
        self.consumer.subscribe([self.settings.topic(PREDICTIONS.name)])
        try:
            while not stop.is_set():
                version = self._champion(stop)
                if version is None:
                    break
                messages = [m for m in self.consumer.consume(1000, timeout=0.2) if not m.error()]
                if messages:
                    self._count(messages, version)
                    self.consumer.commit(asynchronous=False)
                self._close_windows()
        finally:
            self.producer.flush(10)
            self.consumer.close()
        return self.stats

    # -- counting -------------------------------------------------------------------------

    def _count(self, messages: list[Message], version: str) -> None:
        observations: list[Observation] = []
        for message in messages:
            try:
                p = self.codec.decode(message.value(), "Prediction")
            except CodecError:
                log.warning(
                    "monitor: undecodable prediction at %s/%s",
                    message.partition(),
                    message.offset(),
                )
                continue
            event_ms = int(p["event_time"].timestamp() * 1000)
            partition = int(message.partition() or 0)
            self._partition_time[partition] = max(self._partition_time.get(partition, 0), event_ms)
            observations.append(
                Observation(
                    int(message.partition() or 0),
                    int(message.offset() or 0),
                    event_ms,
                    p["features"],
                    p["risk"],
                )
            )
        reference = self.reference(version)
        for (start, partition), group in group_by_window(observations, self.size_ms).items():
            while True:  # compare-and-set: retry if another worker moved the offset
                last = self.store.last_applied(version, start, partition)
                fresh = [o for o in group if o.offset > last]
                if not fresh:
                    break
                fields = count_fields(fresh, reference)
                if self.store.apply(version, start, partition, last, fresh[-1].offset, fields):
                    self.stats.records += len(fresh)
                    break

    # -- closing --------------------------------------------------------------------------

    def _watermark(self) -> int | None:
        """Event time up to which every assigned partition has delivered: the least of their
        latest event times. A partition with nothing read yet holds it back unless it has
        nothing to deliver (caught up), so one fast partition cannot close windows early."""
        times = []
        for tp in self.consumer.assignment():
            if tp.partition in self._partition_time:
                times.append(self._partition_time[tp.partition])
                continue
            _, high = self.consumer.get_watermark_offsets(tp, cached=True) or (0, 0)
            position = self.consumer.position([tp])[0].offset
            if high > 0 and (position < 0 or position < high):
                return None  # it still has records we have not read
        return min(times) if times else None

    def _close_windows(self) -> None:
        watermark = self._watermark()
        if watermark is None:
            return
        horizon = watermark - self.size_ms - self.lateness_ms
        for version in list(self._references):
            for start in self.store.closable(version, horizon + 1):
                if self.store.claim_close(version, start):
                    self._evaluate(version, start)

    def _evaluate(self, version: str, start: int) -> None:
        reference = self.reference(version)
        window = histograms(self.store.counts(version, start), reference)
        ref: dict[str, list[int]] = {
            name: hist["counts"] for name, hist in reference["features"].items()
        }
        cur: dict[str, list[int]] = dict(window.features)
        ref[SCORE], cur[SCORE] = reference["score"]["counts"], window.score
        was = self.store.drifting(version)
        verdicts = drift_verdicts(ref, cur, self.thresholds, was)
        self.stats.windows_closed += 1
        if verdicts is None:
            log.info(
                "monitor: window %s has %d records, below the minimum %d: no verdict",
                start,
                window.n,
                self.thresholds.min_sample,
            )
            return
        self.stats.verdicts[start] = verdicts
        now = {v.feature for v in verdicts if v.drifting}
        for verdict in verdicts:
            if verdict.drifting and verdict.feature not in was:
                self._alert(version, start, window.n, verdict, "FIRING")
            elif not verdict.drifting and verdict.feature in was:
                self._alert(version, start, window.n, verdict, "RESOLVED")
        self.producer.flush(10)
        self.store.set_drifting(version, now)

    def _alert(
        self, version: str, start: int, n: int, verdict: FeatureVerdict, status: str
    ) -> None:
        score = verdict.feature == SCORE
        alert: dict[str, Any] = {
            "alert_id": new_id(),
            "event_time": now_ms(),
            "model_name": self.settings.model_name,
            "model_version": version,
            "kind": "SCORE_DRIFT" if score else "DATA_DRIFT",
            "status": status,
            "severity": verdict.severity or "LOW",
            "feature": None if score else verdict.feature,
            "statistic": "psi",
            "value": verdict.psi,
            "threshold": self.thresholds.psi_low
            if status == "FIRING"
            else self.thresholds.resolve_ratio * self.thresholds.psi_low,
            "window_start": start,
            "window_end": start + self.size_ms,
            "sample_size": n,
            "resolves_alert_id": None,
            "message": f"{'score' if score else verdict.feature} "
            f"{'entered' if status == 'FIRING' else 'left'} drift: PSI "
            f"{verdict.psi:.3f}, KS {verdict.ks:.3f} (p={verdict.ks_pvalue:.2g}), "
            f"JS {verdict.js:.3f}",
        }
        self.producer.produce(
            self.settings.topic(DRIFT_ALERTS.name),
            key=(alert["feature"] or "score").encode(),
            value=self.codec.encode("DriftAlert", alert),
        )
        self.stats.alerts.append(alert)
        log.info("monitor: %s", alert["message"])
