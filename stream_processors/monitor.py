"""The drift monitor (`riskstream run monitor`): predictions + dead-letter → Redis windows →
drift-alerts, performance-windows.

A faust-streaming agent takes the predictions and dead letters in batches of up to 1,000 and
counts each prediction into a tumbling event-time window over the bin edges of the current
champion's reference distribution (windows are keyed by that champion version, followed on
`model-versions`; a new champion takes over from the next window boundary, agreed in Redis,
so no window is split between versions). Only measured values are binned: a feature the
record did not carry (imputed), or one derived from it, is counted as missing instead, as the
reference counts it. Each input the scorer dead-lettered is counted by reason, and each
prediction the A/B split's challenger served is counted for volume alone. When the
watermark shared by every worker (the least event time over all partitions; an idle
partition is moved on by the clock) passes a window's end plus the allowed lateness, a Faust
timer on one worker (elected in Redis) closes it: drift against the reference (PSI, KS, JS;
see ``statistics``), data-quality rates against the reference's missing shares and volume
against recent windows (``quality_stats``). A condition raises a FIRING alert when it starts
or escalates and a RESOLVED one when it ends; the state is shared by all versions, so a new
champion's windows resolve what the old one's raised. A prediction of a version that does not
load gets no verdict, counted by reason, and one MODEL_LOAD alert. Each window is also judged
per source segment (``segments``, ``window_verdicts``), and its performance is estimated
from the scores before any label arrives (``estimates``), published on `performance-windows`.
Before a window closes, each tenth of it is judged by the sequential test as the watermark
passes it (``sequential_watch``): an abrupt shift is a FIRING alert from a sub-window, and
the window's verdict at close keeps, escalates or resolves it.

Guarantee: window counts are exact (each record counted once: the worker commits a batch's
offsets only after the agent has applied it to Redis, and replays are filtered by the last
applied offset per window and partition; a record for a closed window is counted as late);
alerts are at-least-once (a worker killed between publishing an alert and recording the new
state may publish it again). Redis keeps nothing on disk: after a restart the windows it lost
are marked incomplete and get no verdict, instead of a verdict on partial counts.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from riskstream.core.ids import now_ms
from riskstream.core.recent import RecentDict, recent_list
from riskstream.core.topics import DEAD_LETTER, DRIFT_ALERTS, PERFORMANCE_WINDOWS, PREDICTIONS
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.dead_letter import record_source
from riskstream.io.kafka.faust_worker import FaustRuntime, Record
from riskstream.io.kafka.watermark import EventTimeWatermark
from riskstream.io.ops import WorkerMetrics
from riskstream.models.monitoring.alerts import model_load_alert
from riskstream.models.monitoring.quality_stats import Condition
from riskstream.models.monitoring.segments import with_segments
from riskstream.models.monitoring.statistics import FeatureVerdict
from riskstream.models.monitoring.thresholds import drift_thresholds, quality_thresholds
from riskstream.models.monitoring.variants import CHAMPION_VARIANT
from riskstream.models.monitoring.windows import (
    Observation,
    Tracked,
    TrackItem,
    WindowHistograms,
    binning_version,
    by_window,
    challenger_served_fields,
    count_fields,
    dead_letter_fields,
    group_by_window,
    histograms,
    segment_histograms,
    takeover_boundary,
)
from riskstream.models.reference import DriftReference
from riskstream.models.registry_reader import RegistryReader
from riskstream.schemas import CodecError
from riskstream.schemas.events import DeadLetter, DriftAlert, Prediction
from riskstream.stream_processors.estimates import Estimates
from riskstream.stream_processors.model_holder import ModelHolder, reference_only
from riskstream.stream_processors.references import References
from riskstream.stream_processors.sequential_watch import SequentialWatch, alarm_alerts
from riskstream.stream_processors.window_store import SegmentGate, WindowStore
from riskstream.stream_processors.window_verdicts import Scope, WindowJudge
from riskstream.stream_processors.windowed import WindowedMonitor

log = logging.getLogger(__name__)
GROUP = "riskstream-monitor"


@dataclass
class MonitorStats:
    records: int = 0
    dead_letters: int = 0
    challenger_served: int = 0  # the split's challenger share: counted for volume only
    windows_closed: int = 0
    windows_incomplete: int = 0
    redis_restarts: int = 0
    late: int = 0
    last_closed: int = -1  # start of the latest window judged
    skipped: dict[str, int] = field(default_factory=dict)  # reason → records with no verdict
    # the latest alerts and verdicts (bounded): the full history is on `drift-alerts`
    alerts: deque[DriftAlert] = field(default_factory=recent_list)
    verdicts: RecentDict[int, list[FeatureVerdict]] = field(default_factory=RecentDict)
    estimates: RecentDict[int, dict[str, float]] = field(default_factory=RecentDict)
    segment_verdicts: RecentDict[tuple[int, str], list[FeatureVerdict]] = field(
        default_factory=RecentDict
    )


class Monitor(WindowedMonitor):
    def __init__(self, settings: MonitoringSettings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.store = WindowStore(settings)
        # references only: the monitor bins, it never scores
        self.champion = ModelHolder(settings, self.codec, reference_only, worker="monitor")
        self.thresholds = drift_thresholds(settings)
        self.quality = quality_thresholds(settings)
        self.size_ms = settings.monitor_window_s * 1000
        self.lateness_ms = settings.monitor_lateness_s * 1000
        self.stats = MonitorStats()
        self.metrics = WorkerMetrics("monitor")
        self.references = References(self.champion, self._model_load_alert)
        self.estimates = Estimates(settings, self.metrics, RegistryReader(settings))
        self.judge = WindowJudge(settings, self.store, self.metrics, self.thresholds, self.quality)
        self.sequential = SequentialWatch(settings, self.store, self.thresholds)
        self.segment_gate = SegmentGate(self.store, settings.segments_max)
        self._version: str | None = None
        self._predictions = settings.topic(PREDICTIONS.name)
        self.watermark = EventTimeWatermark(idle_ms=int(settings.monitor_idle_s * 1000))
        self._runtime: FaustRuntime
        self._partitions = 0  # of the watched topic, read when the worker starts
        self._watched = self._predictions

    def reference(self, version: str) -> DriftReference | None:
        """The version's drift reference, or None when it does not load (see References)."""
        return self.references.get(version)

    def _model_load_alert(self, version: str, reason: str) -> None:
        log.error(
            "monitor: version %s does not load (%s); its records get no drift verdict",
            version,
            reason,
        )
        if not self.store.first_to_report(f"model-load:{version}"):
            return  # another worker, or this one before a restart, raised it
        message = f"version {version} does not load ({reason}); its records get no drift verdict"
        self._publish(model_load_alert(self.settings.model_name, version, message))
        self.producer.flush(10)

    def _skip(self, reason: str, count: int = 1) -> None:
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + count
        self.metrics.skipped.labels(reason).inc(count)

    def _late(self, count: int) -> None:
        self.stats.late += count
        self._skip("late", count)

    def _champion(self) -> str:
        """The champion, followed through model-versions events like the scorer's (a version
        that fails to load leaves the old one in place); a new one takes over the windows."""
        current = self.champion.current
        assert current is not None
        if current.version != self._version:
            self.references.add(current.version, current.reference)
            self._take_over(current.version)
            log.info("monitor: binning over champion %s's reference", current.version)
            self.metrics.model_version.set(int(current.version))
            self._version = current.version
        return current.version

    def _take_over(self, version: str) -> None:
        """Agree in Redis on the first window binned over ``version``: the one after every
        window counted so far, so a promotion never splits a window's counts (one part
        judged as a volume drop) between two versions."""
        takeovers = self.store.takeovers()
        if takeovers and takeovers[-1][1] == version:
            return  # another worker, or this one before a restart, recorded it
        previous = takeovers[-1][1] if takeovers else self._version
        if previous is None:
            self.store.propose_takeover(version, None, 0)
            return
        if not takeovers:  # Redis lost them: the previous champion held every window so far
            self.store.propose_takeover(previous, None, 0)
        seen = (self.watermark.max_seen, self.store.latest_open(previous))
        latest = [now_ms(), *(t for t in seen if t is not None)]
        self.store.propose_takeover(version, previous, takeover_boundary(latest, self.size_ms))

    def _binning(self) -> Callable[[int], str]:
        """Window start → the version whose reference that window is binned over."""
        champion = self._champion()
        takeovers = self.store.takeovers() or [(0, champion)]
        return lambda start: binning_version(takeovers, start)

    def run(self, stop: threading.Event | None = None) -> MonitorStats:
        stop = stop or threading.Event()
        if self.champion.wait_for_champion(stop) is None:
            return self.stats
        self.champion.follow()
        topics = [self._predictions, self.settings.topic(DEAD_LETTER.name)]
        try:
            self._run_windows(GROUP, topics, stop)
        finally:
            self.champion.stop()
        return self.stats

    # -- counting -------------------------------------------------------------------------

    def _count(self, records: list[Record], version: str | None = None) -> None:
        version_of = self._binning() if version is None else lambda start: version
        observations: list[Observation] = []
        dead: list[Tracked] = []
        others: list[Tracked] = []  # predictions the split's challenger served
        for record in records:
            partition, offset = record.partition, record.offset
            if record.topic != self._predictions:
                self._dead_letter(record, dead)
                continue
            try:
                p = self.codec.decode_event(record.value, Prediction)
            except CodecError:
                log.warning("monitor: undecodable prediction at %s/%s", partition, offset)
                self._skip("undecodable")
                continue
            if p.variant != CHAMPION_VARIANT:  # the split's challenger share: its own model,
                # binned by no one here, but part of the traffic's volume
                self.watermark.observe(self._predictions, partition, p.event_time)
                segment = self.segment_gate.segment_of(p.source)
                others.append(Tracked(partition, offset, p.event_time, "", segment))
                continue
            if self.reference(p.model_version) is None:
                self._skip("model_version_unavailable")
                continue
            self.watermark.observe(self._predictions, partition, p.event_time)
            observations.append(
                Observation(
                    partition,
                    offset,
                    p.event_time,
                    p.features,
                    p.risk,
                    tuple(p.missing),
                    p.label,
                    self.segment_gate.segment_of(p.source),
                )
            )
        self.metrics.records_in.inc(len(records))
        for start, by_partition in group_by_window(observations, self.size_ms).items():
            binned = version_of(start)
            reference = self.reference(binned)
            if reference is None:  # the window's champion does not load here
                self._skip("reference_unavailable", sum(map(len, by_partition.values())))
                continue
            self.stats.records += self._apply(binned, start, by_partition, reference)
        for (start, partition), letters in by_window(dead, self.size_ms).items():
            self.stats.dead_letters += self._apply_track(
                version_of(start), start, f"dl{partition}", letters, dead_letter_fields
            )
        for (start, partition), served in by_window(others, self.size_ms).items():
            self.stats.challenger_served += self._apply_track(
                version_of(start), start, f"ch{partition}", served, challenger_served_fields
            )

    def _dead_letter(self, record: Record, into: list[Tracked]) -> None:
        try:
            letter = self.codec.decode_event(record.value, DeadLetter)
        except CodecError:
            log.warning("monitor: undecodable dead letter at offset %s", record.offset)
            return
        if letter.processor == "scorer":  # the joiner's late labels are not inputs
            source = letter.source or record_source(self.codec, letter.original_value)
            segment = self.segment_gate.segment_of(source)
            into.append(
                Tracked(record.partition, record.offset, letter.event_time, letter.reason, segment)
            )

    def _apply(
        self,
        version: str,
        start: int,
        by_partition: dict[int, list[Observation]],
        reference: DriftReference,
    ) -> int:
        """Count a window's observations, every partition of the batch in one update: its
        fields are binned and sent once, not once per partition."""
        return self.store.add_across(
            version,
            start,
            by_partition,
            lambda o: o.offset,
            lambda fresh: count_fields(fresh, reference, self.sequential.subwindows_of(start)),
            self._redis_restarted,
            self._late,
        )

    def _apply_track(
        self,
        version: str,
        start: int,
        track: str,
        items: list[TrackItem],
        fields_of: Callable[[list[str]], Counter[str]],
    ) -> int:
        """Count a window's (offset, reason, segment) items exactly once each, on an offset
        track of their own: dead letters are another topic's offsets, and the challenger's
        predictions interleave with the champion's in the partition."""

        def fields(fresh: list[TrackItem]) -> Counter[str]:
            return with_segments(
                fresh, lambda item: item.segment, lambda group: fields_of([i.reason for i in group])
            )

        return self.store.add_new(
            version,
            start,
            track,
            sorted(items, key=lambda item: item[0]),
            lambda item: item[0],
            fields,
            self._redis_restarted,
            self._late,
        )

    def _redis_restarted(self) -> None:
        """Redis lost every window: whatever this worker counted before is gone, so every
        window up to the latest event time it has seen is incomplete."""
        through = self.watermark.max_seen or 0
        mark = self.store.mark_incomplete_through(through)
        self.stats.redis_restarts += 1
        log.warning(
            "monitor: Redis restarted and lost its windows; windows starting at or before %d "
            "are marked incomplete and get no verdict",
            mark,
        )

    # -- closing --------------------------------------------------------------------------

    def _open_versions(self) -> list[str]:
        return self.references.versions()

    def _watermark_moved(self, watermark: int) -> None:
        """The sequential test's sub-windows now due, ahead of their windows."""
        alarms = self.sequential.advance(self._open_versions(), watermark, self.reference)
        if not alarms:
            return
        was = self.store.breached()
        now = dict(was)
        for alert in alarm_alerts(self.settings.model_name, alarms, was, now):
            self._publish(alert)
        self.producer.flush(10)
        self.store.set_breached(None, now)

    def _evaluate(self, version: str, start: int) -> None:
        reference = self.reference(version)
        if reference is None:
            return
        raw = self.store.counts(version, start)
        window = histograms(raw, reference)
        self.stats.windows_closed += 1
        self.stats.last_closed = max(self.stats.last_closed, start)
        if window.incomplete or start <= self.store.incomplete_through():
            self.store.mark_window_incomplete(version, start)
            self.stats.windows_incomplete += 1
            self.metrics.windows.labels("incomplete").inc()
            log.warning(
                "monitor: window %d lost counts in a Redis restart: marked incomplete, no verdict",
                start,
            )
            return
        # One alerting state for every version and segment: a new champion's first window
        # resolves the conditions the old champion's windows raised, once its reference fits.
        was = self.store.breached()
        now = dict(was)
        scope = Scope(version, start, start + self.size_ms, reference)
        estimated = self._estimate(version, start, window)
        alerts, verdicts = self.judge.judge(scope, window, was, now, estimated)
        if verdicts is None:
            log.info(
                "monitor: window %s has %d records, below the minimum %d: no drift verdict",
                start,
                window.n,
                self.thresholds.min_sample,
            )
        else:
            self.stats.verdicts[start] = verdicts
        segments = self._segments(raw, reference)
        alerts = self.sequential.hold_resolutions(version, start, alerts, was, now)
        for segment, histogram in segments.items():
            part = dataclasses.replace(scope, segment=segment, segments_judged=len(segments))
            found, segment_verdicts = self.judge.judge(part, histogram, was, now)
            alerts += found
            if segment_verdicts is not None:
                self.stats.segment_verdicts[(start, segment)] = segment_verdicts
        for alert in alerts:
            self._publish(alert)
        self.metrics.windows.labels("evaluated").inc()
        self.producer.flush(10)
        self.store.set_breached(None, now)

    def _segments(self, raw: dict[bytes, bytes], reference: DriftReference) -> dict[str, Any]:
        """The window's busiest segments, and those with a volume history that sent nothing
        (a clinic fallen silent is judged on its volume)."""
        if not self.settings.segments_max:
            return {}
        found = segment_histograms(raw, reference, self.settings.segments_max)
        for silent in sorted(self.store.volume_segments() - set(found)):
            found[silent] = histograms({}, reference)
        return found

    def _estimate(self, version: str, start: int, window: WindowHistograms) -> list[Condition]:
        """Publish the window's performance estimated from its scores; its conditions are
        judged with the others."""
        if not window.scored:
            return []
        bounds = (start, start + self.size_ms)
        record, conditions = self.estimates.before_labels(version, bounds, window.scored)
        self.producer.produce(
            self.settings.topic(PERFORMANCE_WINDOWS.name),
            key=version.encode(),
            value=self.codec.encode_event(record),
        )
        self.metrics.records_out(PERFORMANCE_WINDOWS.name)
        self.stats.estimates[start] = dict(record.estimated)
        return conditions

    def _publish(self, alert: DriftAlert) -> None:
        self.producer.produce(
            self.settings.topic(DRIFT_ALERTS.name),
            key=(alert.feature or alert.kind.lower()).encode(),
            value=self.codec.encode_event(alert),
        )
        self.stats.alerts.append(alert)
        self.metrics.alert(alert)
        self.metrics.records_out(DRIFT_ALERTS.name)
        log.info("monitor: %s", alert.message)
