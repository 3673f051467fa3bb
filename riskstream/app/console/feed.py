"""The console's live view of the topics: one reader follows the alert, performance,
model-version, retrain and audit topics from their beginning (assign(), no consumer group:
the workers are undisturbed), a counter counts the records in and predictions out as they
arrive, and a sampler turns the counts into rates and reads each worker group's lag.

Each arrival bumps ``revision``; the pages' event stream tells the browser to refresh when it
moves. Only model names, versions, features and statistics are kept: no patient record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    ConsumerGroupTopicPartitions,
    KafkaException,
)
from confluent_kafka import TopicPartition as TP

from riskstream.app.console.swaps import WATCH_MS, SwapWatch
from riskstream.core.recent import recent_list
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import (
    AUDIT,
    CATALOG,
    DRIFT_ALERTS,
    MODEL_VERSIONS,
    PATIENT_RECORDS,
    PERFORMANCE_WINDOWS,
    PREDICTIONS,
    RETRAIN_REQUESTS,
)
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.factory import admin_client, reader
from riskstream.io.kafka.reading import partitions_of
from riskstream.schemas import CodecError
from riskstream.schemas.events import Event, ModelVersionEvent, Prediction

log = logging.getLogger(__name__)
FOLLOWED = (DRIFT_ALERTS, PERFORMANCE_WINDOWS, MODEL_VERSIONS, RETRAIN_REQUESTS, AUDIT)
KEEP = 5000  # events of each topic the console holds
SAMPLE_S = 2.0


class ConsoleFeed:
    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.events: dict[str, deque[Event]] = {spec.name: recent_list(KEEP) for spec in FOLLOWED}
        self.samples: deque[tuple[float, int, int]] = recent_list(300)
        self.lag: dict[str, int] = {}
        self.counted = {PATIENT_RECORDS.name: 0, PREDICTIONS.name: 0}
        self.revision = 0
        self.skipped = 0
        self.swaps = SwapWatch()  # when the last scorer served a promoted version
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        threads = (("follow", self._follow), ("count", self._count), ("sample", self._sample))
        for name, target in threads:
            thread = threading.Thread(target=target, name=f"console-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def snapshot(self, topic: str) -> list[Event]:
        with self.lock:
            return list(self.events[topic])

    def _bump(self) -> None:
        self.revision += 1

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow_once()
            except Exception:  # the console stays up and says so; the pages show stale data
                log.exception("console: following the topics stopped; starting again in 5 s")
                self._stop.wait(5.0)

    def _follow_once(self) -> None:
        """Read every followed topic from its beginning (a restart reads them again)."""
        with self.lock:
            for held in self.events.values():
                held.clear()
        codec = codec_for(self.settings)
        kinds = {self.settings.topic(s.name): (s.name, s.event) for s in FOLLOWED}
        consumer = reader(self.settings)
        try:
            consumer.assign(
                [
                    TP(topic, p, OFFSET_BEGINNING)
                    for topic in kinds
                    for p in partitions_of(consumer, topic)
                ]
            )
            while not self._stop.is_set():
                batch = consumer.consume(500, 0.5)
                if not batch:
                    continue
                with self.lock:
                    for m in batch:
                        if m.error():
                            continue
                        name, kind = kinds[str(m.topic())]
                        try:
                            event = codec.decode_event(m.value(), kind)
                        except CodecError:
                            self.skipped += 1
                            continue
                        self.events[name].append(event)
                        if isinstance(event, ModelVersionEvent):
                            self._watch_swap(event)
                    self._bump()
        finally:
            consumer.close()

    def _watch_swap(self, event: ModelVersionEvent) -> None:
        """A champion move the console sees happen (not one read from the topic's past)."""
        moved = event.status in ("PROMOTED", "ROLLED_BACK") and event.alias == "champion"
        if moved and event.version and event.event_time > time.time() * 1000 - WATCH_MS:
            self.swaps.promoted(event.version, event.event_time)

    def _count(self) -> None:
        """Count the records and predictions arriving from now on. Counted, not read off the
        end offsets: the scorer's transactions put a commit marker on an offset of its own,
        so offsets would count the predictions almost twice."""
        while not self._stop.is_set():
            consumer = reader(self.settings)
            try:
                names = {
                    self.settings.topic(s.name): s.name for s in (PATIENT_RECORDS, PREDICTIONS)
                }
                assigned = [TP(t, p, OFFSET_END) for t in names for p in partitions_of(consumer, t)]
                consumer.assign(assigned)
                predictions = self.settings.topic(PREDICTIONS.name)
                codec = codec_for(self.settings)
                self.swaps.partitions = sum(tp.topic == predictions for tp in assigned)
                while not self._stop.is_set():
                    for m in consumer.consume(1000, 0.5):
                        if not m.error():
                            self.counted[names[str(m.topic())]] += 1
                            if self.swaps.watching and m.topic() == predictions:
                                self._swap_seen(codec, m)
            except Exception:
                log.exception("console: counting the records stopped; starting again in 5 s")
                self._stop.wait(5.0)
            finally:
                consumer.close()

    def _swap_seen(self, codec: Any, m: Any) -> None:
        try:
            version = codec.decode_event(m.value(), Prediction).model_version
        except CodecError:
            return
        with self.lock:
            self.swaps.seen(int(m.partition() or 0), version, int(m.timestamp()[1]))

    def _sample(self) -> None:
        consumer = reader(self.settings)
        admin = admin_client(self.settings)
        try:
            while not self._stop.wait(SAMPLE_S):
                try:
                    lag = self._group_lag(admin, consumer)
                except KafkaException as exc:
                    log.warning("console: could not sample offsets (%s); will retry", exc)
                    continue
                flow_in, flow_out = (
                    self.counted[PATIENT_RECORDS.name],
                    self.counted[PREDICTIONS.name],
                )
                with self.lock:
                    self.samples.append((time.time(), flow_in, flow_out))
                    self.lag = lag
                    self._bump()
        finally:
            consumer.close()

    def _group_lag(self, admin: Any, consumer: Any) -> dict[str, int]:
        """Each worker group's lag on this deployment's topics: end offsets minus committed,
        summed over the partitions it has committed (only those end offsets are asked for)."""
        prefix = self.settings.topic_prefix
        ours = {self.settings.topic(spec.name) for spec in CATALOG}
        listed = admin.list_consumer_groups(request_timeout=5).result()
        groups = [
            g.group_id
            for g in listed.valid
            if g.group_id.startswith(prefix) and not g.group_id.startswith("riskstream-reader-")
        ]
        highs: dict[tuple[str, int], int] = {}  # a partition several groups read: asked once
        lag: dict[str, int] = {}
        for group in groups:
            request = [ConsumerGroupTopicPartitions(group)]
            future = admin.list_consumer_group_offsets(request, request_timeout=5)[group]
            committed = [
                tp
                for tp in future.result().topic_partitions or []
                if tp.topic in ours and tp.offset >= 0
            ]
            for tp in committed:
                key = (tp.topic, tp.partition)
                if key not in highs:
                    highs[key] = consumer.get_watermark_offsets(TP(*key), timeout=5)[1]
            if committed:  # another deployment's group (same prefix, other topics) is not ours
                lag[group.removeprefix(prefix)] = sum(
                    max(0, highs[(tp.topic, tp.partition)] - tp.offset) for tp in committed
                )
        return lag
