"""Performance estimates as both monitors make them (the pure method is ``estimation``):
the drift monitor before labels, the performance monitor on labeled windows, against what
they realized.

Each model version's reference period is its first ``estimate_reference_size`` labeled
examples on the stream, counted per (label, score bin) in Redis (``estimation`` says why).
The performance monitor fills it; both monitors estimate with it once it is complete.

Counts are exact, as in every window store (compare-and-set on the last applied offset per
partition). Once complete it is frozen: examples past the size (up to one batch per worker
may overshoot) are not added. Redis keeps nothing on disk: after a restart the reference is
gathered again from the next examples.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.ops import WorkerMetrics
from riskstream.models.monitoring.estimate_intervals import estimate_intervals, reference_spread
from riskstream.models.monitoring.estimation import (
    estimate_errors,
    estimated_metrics,
    reference_fields,
    reference_probability,
    window_record,
)
from riskstream.models.monitoring.performance_stats import performance_conditions
from riskstream.models.monitoring.quality_stats import Condition
from riskstream.models.monitoring.thresholds import performance_thresholds
from riskstream.models.registry_reader import RegistryReader
from riskstream.schemas.events import AlertKind, PerformanceWindow
from riskstream.stream_processors.window_store import WindowStore

log = logging.getLogger(__name__)
REFERENCE = 0  # the one "window" of a version's reference store


@dataclass(frozen=True)
class ReferenceExample:
    offset: int
    risk: float
    label: int


class EstimateReferences:
    def __init__(self, settings: MonitoringSettings) -> None:
        self.store = WindowStore(settings, kind="reference", closes_windows=False)
        self.size = settings.estimate_reference_size
        self._probability: dict[str, np.ndarray] = {}  # versions whose reference is complete
        self._spread: dict[str, np.ndarray] = {}  # and its bootstrap resamples' fits

    def add(self, version: str, partition: int, examples: Sequence[ReferenceExample]) -> None:
        """Count ``examples`` (offset order) into ``version``'s reference unless it is full."""
        if version in self._probability or self._count(version) >= self.size:
            return
        self.store.add_new(
            version,
            REFERENCE,
            partition,
            examples,
            lambda e: e.offset,
            lambda fresh: (
                reference_fields((e.risk, e.label) for e in fresh) + Counter(n=len(fresh))
            ),
            self._restarted,
        )

    def probability(self, version: str) -> np.ndarray | None:
        """P(positive) per score bin of ``version``'s reference; None until it is complete."""
        if version not in self._probability:
            raw = self.store.counts(version, REFERENCE)
            counts = {k.decode(): int(v) for k, v in raw.items()}
            found = reference_probability(counts, self.size)
            if found is None:
                return None
            spread = reference_spread(counts, self.size)
            assert spread is not None  # the reference gave a probability
            self._probability[version], self._spread[version] = found, spread
            log.info("estimates of version %s are calibrated on its reference", version)
        return self._probability[version]

    def spread(self, version: str) -> np.ndarray | None:
        """The P(positive) per score bin of bootstrap resamples of ``version``'s reference
        (what the estimate's interval draws from); None until it is complete."""
        return self._spread.get(version) if self.probability(version) is not None else None

    def _count(self, version: str) -> int:
        value = self.store.redis.hget(self.store.window_key(version, REFERENCE), "n")
        return int(value) if value is not None else 0

    def _restarted(self) -> None:
        log.warning("Redis restarted: estimate references are gathered again")


class Estimates:
    """One monitor's estimates: the references, the version's validation metrics and the
    gauges. Returns the ``performance-windows`` records for the monitor to publish."""

    def __init__(
        self, settings: MonitoringSettings, metrics: WorkerMetrics, registry: RegistryReader
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.references = EstimateReferences(settings)
        self.registry = registry  # the monitor's own: one fetch per version per worker
        self.thresholds = performance_thresholds(
            settings,
            settings,
            settings.estimate_max_drop,
        )

    def before_labels(
        self, version: str, window: tuple[int, int], counts: dict[str, int]
    ) -> tuple[PerformanceWindow, list[Condition]]:
        """A prediction window's estimate (``ESTIMATED``) and its PERFORMANCE_ESTIMATE
        conditions, against the version's validation metrics with the performance
        monitor's rules. No conditions before the version's reference is complete: on
        scores calibrated for another population the estimate may be off by more than the
        drop it would alert on (the bootstrap champion's F1 by -0.05 on the simulator)."""
        probability = self.references.probability(version)
        estimated = estimated_metrics(counts, probability)
        intervals = estimate_intervals(counts, probability, spread=self.references.spread(version))
        record = window_record(
            self.settings.model_name, version, "ESTIMATED", window, estimated, intervals=intervals
        )
        for name, value in record.estimated.items():
            self.metrics.performance_estimate.labels(version, name).set(value)
            if name in intervals:
                for bound, at in zip(("low", "high"), intervals[name], strict=True):
                    self.metrics.performance_estimate_bound.labels(version, name, bound).set(at)
        if probability is None:
            return record, []
        conditions = performance_conditions(
            estimated,
            self.registry.validation_metrics(version),
            self.thresholds,
            kind=AlertKind.PERFORMANCE_ESTIMATE,
            intervals=intervals,
        )
        return record, conditions

    def on_labels(
        self,
        version: str,
        window: tuple[int, int],
        counts: dict[str, int],
        realized: dict[str, float],
        segment: str | None = None,
    ) -> PerformanceWindow:
        """A labeled window's record (``REALIZED``): the metrics, the estimate the same
        records' scores give, and its error."""
        probability = self.references.probability(version)
        estimated = estimated_metrics(counts, probability)
        if segment is None:
            for name, error in estimate_errors(estimated, realized).items():
                self.metrics.estimate_error.labels(version, name).set(error)
        return window_record(
            self.settings.model_name,
            version,
            "REALIZED",
            window,
            estimated,
            realized,
            segment,
            intervals=estimate_intervals(
                counts, probability, spread=self.references.spread(version)
            ),
        )
