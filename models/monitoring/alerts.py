"""DriftAlert events, built the same way by every processor that raises one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from riskstream.core.ids import new_id, now_ms
from riskstream.models.monitoring.pit import PIT_SCALE, PitReference
from riskstream.models.monitoring.quality_stats import Condition
from riskstream.models.monitoring.sequential import Step
from riskstream.models.monitoring.statistics import DriftThresholds, FeatureVerdict
from riskstream.models.monitoring.trend import TREND, TrendStep
from riskstream.schemas.events import AlertKind, AlertStatus, DriftAlert, Severity


def _rank(severity: str | None) -> int:
    return Severity(severity).rank if severity else -1


def transition(
    name: str,
    breached: bool,
    was: Mapping[str, str],
    now: dict[str, str],
    severity: Severity | None = None,
) -> AlertStatus | None:
    """FIRING when a condition enters breach, or when its severity rises above the highest
    it fired at (an escalation: an incident whose first window was only partly drifted fires
    LOW, and the trigger, which waits for HIGH, must hear when it grows); RESOLVED when it
    leaves breach; else None. ``was``/``now`` map each breached condition to that highest
    severity; ``now`` (the state being built for this window) is kept up to date."""
    if breached:
        before = was.get(name)
        if before is None or _rank(severity) > _rank(before):
            now[name] = severity or ""
            return AlertStatus.FIRING
        return None
    if name in was:
        now.pop(name, None)
        return AlertStatus.RESOLVED
    return None


def alert_event(
    model_name: str,
    version: str,
    *,
    kind: AlertKind,
    status: AlertStatus,
    severity: Severity,
    statistic: str,
    value: float,
    threshold: float,
    window: tuple[int, int],
    sample_size: int,
    message: str,
    feature: str | None = None,
) -> DriftAlert:
    return DriftAlert(
        alert_id=new_id(),
        event_time=now_ms(),
        model_name=model_name,
        model_version=version,
        kind=kind,
        status=status,
        severity=severity,
        feature=feature,
        statistic=statistic,
        value=float(value),
        threshold=float(threshold),
        window_start=window[0],
        window_end=window[1],
        sample_size=sample_size,
        resolves_alert_id=None,
        message=message,
    )


def alert_subject(alert: DriftAlert) -> str:
    """What an alert is about, for a person: its feature, else "score" for the prediction
    score's distribution, else its kind (volume, concept drift, a metric)."""
    return subject_name(alert.feature, alert.kind)


def subject_name(feature: str | None, kind: str) -> str:
    if feature:
        return feature
    if kind == AlertKind.MULTIVARIATE_DRIFT:
        return "joint distribution"
    return "score" if kind == AlertKind.SCORE_DRIFT else kind.lower()


def condition_alert(
    model_name: str,
    version: str,
    condition: Condition,
    status: AlertStatus,
    window: tuple[int, int],
    sample_size: int,
) -> DriftAlert:
    """The alert of a data-quality, volume or performance condition entering or leaving
    breach. ``feature`` is the feature a missing rate is about, else None."""
    feature = (
        condition.name.split(":", 2)[2] if condition.name.startswith("quality:missing:") else None
    )
    subject = condition.name.replace(":", " ")
    verb = "breached" if status == "FIRING" else "recovered"
    return alert_event(
        model_name,
        version,
        kind=condition.kind,
        status=status,
        severity=condition.severity or Severity.LOW,
        statistic=condition.statistic,
        value=condition.value,
        threshold=condition.threshold,
        window=window,
        sample_size=sample_size,
        feature=feature,
        message=f"{subject} {verb}: {condition.statistic} {condition.value:.3f} "
        f"(threshold {condition.threshold:.3f}, {sample_size} records)",
    )


def drift_alert(
    model_name: str,
    version: str,
    verdict: FeatureVerdict,
    status: AlertStatus,
    thresholds: DriftThresholds,
    window: tuple[int, int],
    sample_size: int,
    *,
    kind: AlertKind = AlertKind.DATA_DRIFT,
) -> DriftAlert:
    """A feature entering or leaving drift; with ``kind`` SCORE_DRIFT the score's
    distribution, with MULTIVARIATE_DRIFT the features' joint structure (no one feature)."""
    subject, feature = _drift_subject(kind, verdict.feature)
    t = thresholds
    return alert_event(
        model_name,
        version,
        kind=kind,
        status=status,
        severity=verdict.severity or Severity.LOW,
        feature=feature,
        statistic="psi",
        value=verdict.psi,
        threshold=t.psi_low if status == "FIRING" else t.resolve_ratio * t.psi_low,
        window=window,
        sample_size=sample_size,
        message=f"{subject} {'entered' if status == 'FIRING' else 'left'} drift: PSI "
        f"{verdict.psi:.3f}, KS {verdict.ks:.3f} (p={verdict.ks_pvalue:.2g}), JS {verdict.js:.3f}",
    )


def sequential_alert(
    model_name: str,
    version: str,
    subject: str,
    step: Step,
    threshold: float,
    window: tuple[int, int],
    *,
    score: bool,
    baseline: PitReference | None = None,
) -> DriftAlert:
    """A feature (or the score) entering drift on the sequential test, before its window
    closes: the CUSUM that crossed ``threshold`` and the run of values that built it,
    against the reference or (``baseline``) against the version's first values."""
    side = step.state.leading()
    name = "score" if score else subject
    mean = side.run_pit / PIT_SCALE / side.run_n if side.run_n else 0.5
    against = (
        "0.5 in the reference"
        if baseline is None
        else f"{baseline.mean:.3f} in the version's first {baseline.n:,} values"
    )
    return alert_event(
        model_name,
        version,
        kind=AlertKind.SCORE_DRIFT if score else AlertKind.DATA_DRIFT,
        status=AlertStatus.FIRING,
        severity=step.alarm or Severity.LOW,
        feature=None if score else subject,
        statistic="cusum",
        value=side.value,
        threshold=threshold,
        window=window,
        sample_size=side.run_n,
        message=f"{name} entered drift on the sequential test, before its window closed: "
        f"CUSUM {side.value:.1f} over {side.run_n} values, their mean PIT {mean:.3f} "
        f"({against})",
    )


def trend_alert(
    model_name: str,
    version: str,
    subject: str,
    step: TrendStep,
    window: tuple[int, int],
    *,
    score: bool,
) -> DriftAlert:
    """A NOTICE: the trend test's ramp, still too small for the drift bands. Its value is
    the ramp's z, its threshold the test's; the message gives the shift the fitted ramp has
    reached, in standard deviations of the reference's PIT, and since when it runs."""
    assert step.alarm is not None
    anchor, state = step.alarm, step.state
    name = "score" if score else subject
    shift = anchor.shift(state.clock)
    return alert_event(
        model_name,
        version,
        kind=AlertKind.SCORE_DRIFT if score else AlertKind.DATA_DRIFT,
        status=AlertStatus.FIRING,
        severity=Severity.NOTICE,
        feature=None if score else subject,
        statistic="trend",
        value=step.statistic,
        threshold=TREND.threshold,
        window=window,
        sample_size=int(state.clock - anchor.at),
        message=f"{name} is trending {'up' if shift > 0 else 'down'} against the version's "
        f"first {state.baseline_n:,} values: a ramp over the last "
        f"{int(state.clock - anchor.at):,} values, z {step.statistic:.1f}, now "
        f"{abs(shift):.2f} sd of PIT off; under the LOW band so far",
    )


def model_load_alert(
    model_name: str, version: str, message: str, statistic: str = "model_load"
) -> DriftAlert:
    """A model version that does not load; ``message`` says what that means for the worker
    that raises it (the scorer keeps the old version, the monitor skips the version's
    records)."""
    at = now_ms()
    return alert_event(
        model_name,
        version,
        kind=AlertKind.MODEL_LOAD,
        status=AlertStatus.FIRING,
        severity=Severity.HIGH,
        statistic=statistic,
        value=1.0,
        threshold=0.0,
        window=(at, at),
        sample_size=0,
        message=message,
    )


def _drift_subject(kind: AlertKind, feature: str) -> tuple[str, str | None]:
    """What a drift alert of ``kind`` is about, and the feature it names: DATA_DRIFT names
    its feature; the score's and the joint structure's drift name none."""
    if kind == AlertKind.DATA_DRIFT:
        return feature, feature
    return subject_name(None, kind), None


def retired_alert(
    model_name: str,
    version: str,
    feature: str,
    window: tuple[int, int],
    sample_size: int,
    *,
    kind: AlertKind = AlertKind.DATA_DRIFT,
) -> DriftAlert:
    """A drifting feature that the serving version does not use (or, with ``kind``
    MULTIVARIATE_DRIFT, a joint structure it has no reference for) leaves drift: no window
    will judge it again, and an alert nothing can resolve would page for ever."""
    subject, named = _drift_subject(kind, feature)
    return alert_event(
        model_name,
        version,
        kind=kind,
        status=AlertStatus.RESOLVED,
        severity=Severity.LOW,
        feature=named,
        statistic="psi",
        value=0.0,
        threshold=0.0,
        window=window,
        sample_size=sample_size,
        message=f"{subject} left drift: version {version} does not use it, so it is no longer "
        "compared",
    )


def in_segment(alert: DriftAlert, segment: str | None) -> DriftAlert:
    """The alert about one source ``segment``: named in its field and its message."""
    if segment is None:
        return alert
    return dataclasses.replace(alert, segment=segment, message=f"[{segment}] {alert.message}")
