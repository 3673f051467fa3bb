"""The drift monitor's verdicts on one closed window, for the whole stream or one source
segment: drift against the version's reference (PSI, KS, JS), data quality (missing rates
against the reference's shares, dead-letter rates) and volume against recent windows.

One alerting state serves every version and segment (``WindowStore.breached``): a segment's
conditions are kept as ``<segment>|<name>``, so a clinic's incident is one FIRING and one
RESOLVED alert, as the stream's is. The judge returns the alerts; the monitor publishes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.ops import WorkerMetrics
from riskstream.models.monitoring.alerts import (
    condition_alert,
    drift_alert,
    in_segment,
    retired_alert,
    transition,
)
from riskstream.models.monitoring.quality_stats import (
    VOLUME,
    Condition,
    QualityThresholds,
    quality_conditions,
    volume_condition,
)
from riskstream.models.monitoring.segments import (
    is_segment_condition,
    segment_condition,
    segment_state,
)
from riskstream.models.monitoring.statistics import DriftThresholds, FeatureVerdict, drift_verdicts
from riskstream.models.monitoring.windows import WindowHistograms
from riskstream.models.reference import DriftReference, missing_shares
from riskstream.schemas.events import AlertKind, DriftAlert
from riskstream.stream_processors.window_store import WindowStore

SCORE = "__score__"
JOINT = "__joint__"  # the PCA reconstruction error: how the features move together
KINDS = {SCORE: AlertKind.SCORE_DRIFT, JOINT: AlertKind.MULTIVARIATE_DRIFT}
WHOLE = "all"  # the segment label of the whole stream


@dataclasses.dataclass
class Scope:
    """What one judgement is about: a version's window, and the segment (None: all)."""

    version: str
    start: int
    end: int
    reference: DriftReference
    segment: str | None = None
    segments_judged: int = 1  # Bonferroni: segments judged in this window

    @property
    def window(self) -> tuple[int, int]:
        return (self.start, self.end)

    def key(self, name: str) -> str:
        return name if self.segment is None else segment_condition(self.segment, name)

    def label(self) -> str:
        return self.segment or WHOLE

    def breached(self, was: dict[str, str]) -> frozenset[str]:
        """The conditions breached in this scope, by their names within it."""
        return segment_state(was, self.segment) if self.segment else frozenset(was)


class WindowJudge:
    def __init__(
        self,
        settings: MonitoringSettings,
        store: WindowStore,
        metrics: WorkerMetrics,
        thresholds: DriftThresholds,
        quality: QualityThresholds,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.thresholds = thresholds
        self.quality = quality

    def judge(
        self,
        scope: Scope,
        window: WindowHistograms,
        was: dict[str, str],
        now: dict[str, str],
        extra: Sequence[Condition] = (),
    ) -> tuple[list[DriftAlert], list[FeatureVerdict] | None]:
        """The alerts of one scope's window (``extra``: conditions judged elsewhere, e.g.
        estimates), and its drift verdicts (None below the minimum sample)."""
        alerts, verdicts = self._drift(scope, window, was, now)
        # every input of the window: the champion's, the split's challenger share, the rejected
        total = window.n + window.challenger_served + sum(window.dead_letters.values())
        mine = scope.breached(was)
        quality = self.quality
        if scope.segments_judged > 1:  # Bonferroni over the segments, as for drift
            quality = dataclasses.replace(quality, alpha=quality.alpha / scope.segments_judged)
        conditions = quality_conditions(
            window.n,
            window.missing,
            window.dead_letters,
            quality,
            mine,
            missing_shares(scope.reference),
        )
        volume = volume_condition(
            self.store.volume_history(quality.volume_history, scope.segment),
            total,
            quality,
            mine,
        )
        self.store.push_volume(total, self.quality.volume_history, scope.segment)
        for condition in [*conditions, *([volume] if volume else []), *extra]:
            alerts += self._condition(scope, total, condition, was, now)
        return alerts, verdicts

    def _drift(
        self,
        scope: Scope,
        window: WindowHistograms,
        was: dict[str, str],
        now: dict[str, str],
    ) -> tuple[list[DriftAlert], list[FeatureVerdict] | None]:
        ref, cur = drift_inputs(scope.reference, window)
        thresholds = segment_thresholds(self.thresholds, scope.segments_judged)
        verdicts = drift_verdicts(ref, cur, thresholds, scope.breached(was))
        if verdicts is None:
            return [], None
        alerts = []
        for verdict in verdicts:
            for statistic in ("psi", "ks", "js"):
                gauge = self.metrics.drift.labels(verdict.feature, statistic, scope.label())
                gauge.set(getattr(verdict, statistic))
            status = transition(
                scope.key(verdict.feature), verdict.drifting, was, now, verdict.severity
            )
            if status:
                alert = drift_alert(
                    self.settings.model_name,
                    scope.version,
                    verdict,
                    status,
                    thresholds,
                    scope.window,
                    window.n,
                    kind=KINDS.get(verdict.feature, AlertKind.DATA_DRIFT),
                )
                alerts.append(in_segment(alert, scope.segment))
        alerts += self._retire(scope, window.n, set(ref), was, now)
        return alerts, verdicts

    def _retire(
        self, scope: Scope, n: int, judged: set[str], was: dict[str, str], now: dict[str, str]
    ) -> list[DriftAlert]:
        """Resolve the drift of features this version's model does not use (a retrained
        version may pick other engineered features), or of the joint structure when it has
        no joint reference: nothing will ever judge them again, and an alert no window can
        resolve would page for ever."""
        alerts = []
        for name in sorted(scope.breached(was)):
            if (
                name in judged
                or name.startswith(("quality:", "estimate:"))
                or name == VOLUME
                or is_segment_condition(name)
            ):
                continue
            now.pop(scope.key(name), None)
            kind = KINDS.get(name, AlertKind.DATA_DRIFT)
            alert = retired_alert(
                self.settings.model_name, scope.version, name, scope.window, n, kind=kind
            )
            alerts.append(in_segment(alert, scope.segment))
        return alerts

    def _condition(
        self,
        scope: Scope,
        total: int,
        condition: Condition,
        was: dict[str, str],
        now: dict[str, str],
    ) -> list[DriftAlert]:
        gauge = self.metrics.drift.labels(condition.name, condition.statistic, scope.label())
        gauge.set(condition.value)
        key = scope.key(condition.name)
        status = transition(key, condition.breached, was, now, condition.severity)
        if not status:
            return []
        alert = condition_alert(
            self.settings.model_name, scope.version, condition, status, scope.window, total
        )
        return [in_segment(alert, scope.segment)]


def drift_inputs(
    reference: DriftReference, window: WindowHistograms
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(reference, window) histograms per feature, the score's under ``SCORE`` and, when the
    version has a joint reference, the reconstruction errors' under ``JOINT``: one family
    of tests, so the Bonferroni correction counts the joint test too."""
    ref = {name: list(hist["counts"]) for name, hist in reference["features"].items()}
    cur = dict(window.features)
    ref[SCORE], cur[SCORE] = list(reference["score"]["counts"]), window.score
    joint = reference.get("joint")
    if joint is not None and window.joint:
        ref[JOINT], cur[JOINT] = list(joint["counts"]), window.joint
    return ref, cur


def segment_thresholds(thresholds: DriftThresholds, segments_judged: int) -> DriftThresholds:
    """Bonferroni over the segments judged in one window: each segment's KS test rejects at
    ``alpha / segments`` (and over features, inside ``drift_verdicts``), so five clinics do
    not page five times as often as one stream."""
    if segments_judged <= 1:
        return thresholds
    return dataclasses.replace(thresholds, alpha=thresholds.alpha / segments_judged)
