"""The performance monitor (`riskstream run performance`): labeled-examples → Redis windows →
drift-alerts (PERFORMANCE and CONCEPT_DRIFT), performance-windows.

A faust-streaming agent takes labeled examples in batches of up to 1,000 and counts each into
a tumbling window by the time its label joined (``labeled_at``: labels arrive late, so windows
by prediction time would close long after the fact) and by the model version that made the
prediction. When the watermark of the labeled-example partitions passes a window's end plus
the lateness, a Faust timer on one worker closes it: accuracy, precision, recall, F1, binned
ROC-AUC and Brier score (``performance_stats``), checked against the champion gates and
against the version's own validation metrics. The window's record on `performance-windows`
also holds what CBPE estimates from the same records' scores, and the estimate's error; each
source segment is judged and recorded the same way, and each version's first labeled examples
form its estimate reference (``estimates``). Alongside, river's ADWIN watches each
version's 0/1 error stream, example by example, for concept drift.

Per variant: an example that carries a shadow score (a challenger's, or the previous
champion's under a watch) is counted twice, into the serving version's window and into the
shadow version's own (``<version>~shadow``), whose record has variant ``shadow`` and raises no
alert.

Guarantee: window counts are exact, as in the drift monitor (compare-and-set on the last
applied offset per window and partition; Redis restarts mark windows incomplete). Alerts are
at-least-once. The ADWIN detectors live in the worker's memory and see only its partitions; a
restarted worker starts them afresh (an error-rate shift is found again within a few hundred
examples).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter, deque
from dataclasses import dataclass, field

from riskstream.core.recent import RecentDict, recent_list
from riskstream.core.topics import DRIFT_ALERTS, LABELED_EXAMPLES, PERFORMANCE_WINDOWS
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.faust_worker import FaustRuntime, Record
from riskstream.io.kafka.watermark import EventTimeWatermark
from riskstream.io.ops import WorkerMetrics
from riskstream.models.monitoring.alerts import (
    alert_event,
    condition_alert,
    in_segment,
    transition,
)
from riskstream.models.monitoring.estimation import estimate_fields, window_record
from riskstream.models.monitoring.performance_stats import (
    ErrorRateDetector,
    ErrorRateShift,
    Outcome,
    corrected_z,
    performance_conditions,
    performance_fields,
    window_metrics,
)
from riskstream.models.monitoring.segments import (
    judged_segments,
    segment_condition,
    segment_state,
    split_segments,
    with_segments,
)
from riskstream.models.monitoring.thresholds import performance_thresholds
from riskstream.models.monitoring.windows import window_start
from riskstream.models.registry_reader import RegistryReader
from riskstream.schemas import CodecError
from riskstream.schemas.events import (
    AlertKind,
    DriftAlert,
    LabeledExample,
    PerformanceWindow,
    Severity,
)
from riskstream.stream_processors.estimates import Estimates, ReferenceExample
from riskstream.stream_processors.window_store import SegmentGate, WindowStore
from riskstream.stream_processors.windowed import WindowedMonitor

log = logging.getLogger(__name__)
GROUP = "riskstream-performance"
SHADOW = "~shadow"  # suffix of a version's shadow-score windows (versions are numbers)


@dataclass(frozen=True)
class Labeled:
    partition: int
    offset: int
    labeled_ms: int
    version: str
    outcome: Outcome
    segment: str | None = None  # the clinic's segment (``segments``)


@dataclass
class PerformanceStats:
    examples: int = 0
    shadow_scores: int = 0  # the same examples, counted again as their shadow version's
    windows_closed: int = 0  # of served predictions
    shadow_windows_closed: int = 0
    windows_incomplete: int = 0
    late: int = 0
    # the latest windows' metrics and alerts (bounded): the history is on the topics
    metrics: RecentDict[tuple[str, int], dict[str, float]] = field(default_factory=RecentDict)
    # estimated minus realized, per metric, of the latest windows
    estimate_errors: RecentDict[tuple[str, int], dict[str, float]] = field(
        default_factory=RecentDict
    )
    segment_metrics: RecentDict[tuple[str, int, str], dict[str, float]] = field(
        default_factory=RecentDict
    )
    alerts: deque[DriftAlert] = field(default_factory=recent_list)


class PerformanceMonitor(WindowedMonitor):
    def __init__(self, settings: MonitoringSettings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.store = WindowStore(settings, kind="perf")
        self.registry = RegistryReader(settings)
        self.thresholds = performance_thresholds(
            settings,
            settings,
            settings.performance_max_drop,
        )
        self.size_ms = settings.performance_window_s * 1000
        self.lateness_ms = settings.performance_lateness_s * 1000
        self.stats = PerformanceStats()
        self.metrics = WorkerMetrics("performance")
        self.estimates = Estimates(settings, self.metrics, self.registry)
        self.segment_gate = SegmentGate(self.store, settings.segments_max)
        self.detectors: dict[str, ErrorRateDetector] = {}
        self._versions: set[str] = set()
        self._topic = settings.topic(LABELED_EXAMPLES.name)
        self.watermark = EventTimeWatermark(idle_ms=int(settings.monitor_idle_s * 1000))
        self._runtime: FaustRuntime
        self._partitions = 0  # of the watched topic, read when the worker starts
        self._watched = self._topic

    def run(self, stop: threading.Event | None = None) -> PerformanceStats:
        stop = stop or threading.Event()
        self.metrics.ready = True
        self._run_windows(GROUP, [self._topic], stop)
        return self.stats

    # -- counting ---------------------------------------------------------------------------

    def _count(self, records: list[Record]) -> None:
        examples, shadows = self._decoded(records)
        self.metrics.records_in.inc(len(records))
        groups: dict[tuple[str, int, int], list[Labeled]] = {}
        for ex in examples + shadows:
            key = (ex.version, window_start(ex.labeled_ms, self.size_ms), ex.partition)
            groups.setdefault(key, []).append(ex)
        for (version, start, partition), group in groups.items():
            self._versions.add(version)
            group.sort(key=lambda ex: ex.offset)
            added = self.store.add_new(
                version,
                start,
                partition,
                group,
                lambda ex: ex.offset,
                lambda fresh: with_segments(fresh, lambda ex: ex.segment, _fields),
                self._redis_restarted,
                self._late,
            )
            if version.endswith(SHADOW):
                self.stats.shadow_scores += added
            else:
                self.stats.examples += added
        for (version, partition), reference in _by_version(examples).items():
            self.estimates.references.add(version, partition, reference)
        for ex in examples:  # arrival order: ADWIN is sequential
            detector = self.detectors.setdefault(
                ex.version, ErrorRateDetector(self.settings.performance_adwin_delta)
            )
            for shift in detector.update([int(ex.outcome.predicted != ex.outcome.label)]):
                self._concept_alert(ex.version, ex.labeled_ms, shift)

    def _decoded(self, records: list[Record]) -> tuple[list[Labeled], list[Labeled]]:
        """The batch's labeled examples, and the same records as the shadow version scored
        them; an undecodable one is counted as skipped."""
        examples: list[Labeled] = []
        shadows: list[Labeled] = []
        for record in records:
            try:
                e = self.codec.decode_event(record.value, LabeledExample)
            except CodecError:
                log.warning("performance: undecodable labeled example at %s", record.offset)
                self.metrics.skipped.labels("undecodable").inc()
                continue
            self.watermark.observe(self._topic, record.partition, e.labeled_at)
            where = (record.partition, record.offset, e.labeled_at)
            outcome = Outcome(int(e.label), float(e.risk), int(e.predicted_label))
            segment = self.segment_gate.segment_of(e.source)
            examples.append(Labeled(*where, e.model_version, outcome, segment))
            if e.shadow_version is not None and e.shadow_risk is not None:
                shadow = Outcome(int(e.label), float(e.shadow_risk), int(e.shadow_label or 0))
                shadows.append(Labeled(*where, shadow_key(e.shadow_version), shadow))
        return examples, shadows

    def _late(self, count: int) -> None:
        self.stats.late += count
        self.metrics.skipped.labels("late").inc(count)

    def _redis_restarted(self) -> None:
        mark = self.store.mark_incomplete_through(self.watermark.max_seen or 0)
        log.warning("performance: Redis restarted; windows up to %d are marked incomplete", mark)

    # -- closing ----------------------------------------------------------------------------

    def _open_versions(self) -> list[str]:
        return sorted(self._versions)

    def _evaluate(self, version: str, start: int) -> None:
        raw = self.store.counts(version, start)
        counts = {k.decode(): int(v) for k, v in raw.items()}
        if version.endswith(SHADOW):
            self.stats.shadow_windows_closed += 1
        else:
            self.stats.windows_closed += 1
        if counts.get("incomplete") or start <= self.store.incomplete_through():
            self.store.mark_window_incomplete(version, start)
            self.stats.windows_incomplete += 1
            self.metrics.windows.labels("incomplete").inc()
            log.warning("performance: window %d lost counts in a Redis restart: no verdict", start)
            return
        whole, segments = split_segments(counts)
        if version.endswith(SHADOW):
            self._shadow_window(version.removesuffix(SHADOW), (start, start + self.size_ms), whole)
            return
        was = self.store.breached(version)
        now = dict(was)
        window = (start, start + self.size_ms)
        self.stats.metrics[(version, start)] = self._judge(version, window, whole, was, now)
        kept = judged_segments(segments, self.settings.segments_max, whole.get("n", 0))
        for segment, fields in kept.items():
            metrics = self._judge(version, window, fields, was, now, segment, len(kept))
            self.stats.segment_metrics[(version, start, segment)] = metrics
        self.metrics.windows.labels("evaluated").inc()
        self.producer.flush(10)
        self.store.set_breached(version, now)

    def _judge(
        self,
        version: str,
        window: tuple[int, int],
        counts: dict[str, int],
        was: dict[str, str],
        now: dict[str, str],
        segment: str | None = None,
        segments: int = 1,
    ) -> dict[str, float]:
        """One scope's metrics (the stream's, or a segment's), its record with the estimate
        the same records' scores give, and its alerts."""
        metrics = window_metrics(counts)
        for name, value in metrics.items():
            label = segment or "all"
            self.metrics.drift.labels(f"performance:v{version}", name, label).set(value)
        record = self.estimates.on_labels(version, window, counts, metrics, segment)
        if segment is None:
            self.stats.estimate_errors[(version, window[0])] = dict(record.estimate_error)
        self._record(record)
        mine = segment_state(was, segment) if segment else frozenset(was)
        thresholds = self.thresholds
        if segments > 1:  # Bonferroni over the segments judged, as for drift
            thresholds = dataclasses.replace(thresholds, z=corrected_z(segments))
        validation = self.registry.validation_metrics(version)
        for condition in performance_conditions(metrics, validation, thresholds, mine):
            key = condition.name if segment is None else segment_condition(segment, condition.name)
            status = transition(key, condition.breached, was, now, condition.severity)
            if status:
                n = int(metrics["n"])
                alert = condition_alert(
                    self.settings.model_name, version, condition, status, window, n
                )
                self._publish(in_segment(alert, segment))
        return metrics

    def _shadow_window(self, version: str, window: tuple[int, int], counts: dict[str, int]) -> None:
        """A version's window of shadow scores: its metrics on records another version served,
        recorded beside that version's (variant ``shadow``), never alerted on: it serves
        nobody, and the referee and the canary judge it on the same records, paired."""
        metrics = window_metrics(counts)
        for name, value in metrics.items():
            self.metrics.drift.labels(f"performance:v{version}:shadow", name, "all").set(value)
        self.stats.metrics[(shadow_key(version), window[0])] = metrics
        self._record(
            window_record(
                self.settings.model_name,
                version,
                "REALIZED",
                window,
                {},
                metrics,
                variant="shadow",
            )
        )
        self.metrics.windows.labels("evaluated").inc()
        self.producer.flush(10)

    def _concept_alert(self, version: str, at_ms: int, shift: ErrorRateShift) -> None:
        rose = shift.status == "FIRING"
        self._publish(
            alert_event(
                self.settings.model_name,
                version,
                kind=AlertKind.CONCEPT_DRIFT,
                status=shift.status,
                severity=Severity.HIGH
                if shift.after - shift.before >= 0.1 or not rose
                else Severity.MEDIUM,
                statistic="adwin_error_rate",
                value=shift.after,
                threshold=shift.before,
                window=(at_ms, at_ms),
                sample_size=shift.seen,
                message=f"ADWIN: version {version}'s error rate "
                f"{'rose' if rose else 'fell back'} from {shift.before:.3f} to {shift.after:.3f}",
            )
        )
        self.producer.flush(10)

    def _record(self, record: PerformanceWindow) -> None:
        self.producer.produce(
            self.settings.topic(PERFORMANCE_WINDOWS.name),
            key=record.model_version.encode(),
            value=self.codec.encode_event(record),
        )
        self.metrics.records_out(PERFORMANCE_WINDOWS.name)

    def _publish(self, alert: DriftAlert) -> None:
        self.producer.produce(
            self.settings.topic(DRIFT_ALERTS.name),
            key=alert.kind.lower().encode(),
            value=self.codec.encode_event(alert),
        )
        self.stats.alerts.append(alert)
        self.metrics.alert(alert)
        self.metrics.records_out(DRIFT_ALERTS.name)
        log.info("performance: %s", alert.message)


def shadow_key(version: str) -> str:
    """The window key of a version's shadow scores, apart from its served predictions."""
    return f"{version}{SHADOW}"


def _by_version(examples: list[Labeled]) -> dict[tuple[str, int], list[ReferenceExample]]:
    """(version, partition) → its examples for the estimate reference, in offset order."""
    out: dict[tuple[str, int], list[ReferenceExample]] = {}
    for ex in sorted(examples, key=lambda e: e.offset):
        item = ReferenceExample(ex.offset, ex.outcome.risk, ex.outcome.label)
        out.setdefault((ex.version, ex.partition), []).append(item)
    return out


def _fields(examples: list[Labeled]) -> Counter[str]:
    """A window's increments: the metrics' counts and the estimate's."""
    return performance_fields(ex.outcome for ex in examples) + estimate_fields(
        (ex.outcome.risk, ex.outcome.predicted) for ex in examples
    )
