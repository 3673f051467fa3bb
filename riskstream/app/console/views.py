"""What the console's pages show, shaped from decoded events (pure: no I/O).

Each function takes what the feed gathered (typed events from the topics, registry rows,
Redis window verdicts) and returns plain JSON-ready data (times as epoch milliseconds); the
API serves it as is and the pages chart it with Plotly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from riskstream.app.console.shapes import (
    DriftMatrix,
    DriftWindow,
    HistoryEntry,
    Incident,
    IncidentState,
    LastRetrain,
    MetricSeries,
    PerformanceSeries,
    Rate,
    RetrainPhases,
    Takeover,
    VersionRow,
    VersionSummary,
)
from riskstream.models.monitoring.alerts import subject_name
from riskstream.models.monitoring.notifications import Hold, subject_of
from riskstream.models.monitoring.performance_stats import standard_error
from riskstream.schemas.events import (
    AlertStatus,
    AuditEvent,
    DriftAlert,
    ModelVersionEvent,
    PerformanceWindow,
    RetrainRequest,
)

METRICS = ("accuracy", "roc_auc", "f1", "brier")
Z95 = 1.959964


def alert_subject(alert: DriftAlert) -> str:
    """The notifier's subject of an alert (what a silence holds back)."""
    return subject_of(alert.model_name, alert.kind, alert.feature, alert.statistic, alert.segment)


def alert_timeline(alerts: Iterable[DriftAlert]) -> list[Incident]:
    """One row per incident: a FIRING alert, with the RESOLVED alert that closed it (or
    ``resolved_at`` None while it is active). Newest first."""
    rows: list[Incident] = []
    open_by_subject: dict[str, Incident] = {}
    for alert in sorted(alerts, key=lambda a: a.event_time):
        subject = alert_subject(alert)
        if alert.status == AlertStatus.RESOLVED:
            closed = open_by_subject.pop(subject, None)
            if closed is not None:
                closed["resolved_at"] = alert.event_time
                closed["resolved_value"] = alert.value
                closed["resolved_by"] = alert.alert_id
            continue
        row: Incident = {
            "alert_id": alert.alert_id,
            "subject": subject,
            "fired_at": alert.event_time,
            "severity": str(alert.severity),
            "kind": str(alert.kind),
            "feature": alert.feature,
            "about": subject_name(alert.feature, alert.kind),
            "statistic": alert.statistic,
            "value": alert.value,
            "threshold": alert.threshold,
            "segment": alert.segment,
            "model_version": alert.model_version,
            "message": alert.message,
            "resolved_at": None,
            "resolved_value": None,
            "resolved_by": None,
        }
        earlier = open_by_subject.get(subject)
        if earlier is not None:  # an escalation: the incident continues at a new severity
            earlier["resolved_at"] = alert.event_time
            earlier["resolved_by"] = alert.alert_id
        open_by_subject[subject] = row
        rows.append(row)
    return sorted(rows, key=lambda r: r["fired_at"], reverse=True)


def with_alert_state(
    rows: Sequence[Incident], acks: Mapping[str, Hold], silences: Mapping[str, Hold]
) -> list[IncidentState]:
    """Each row with its acknowledgement (by alert id) and silence (by subject), if any."""
    return [
        IncidentState(**row, ack=acks.get(row["alert_id"]), silence=silences.get(row["subject"]))
        for row in rows
    ]


def interval(name: str, value: float, realized: Mapping[str, float]) -> tuple[float, float] | None:
    """The 95% confidence interval of a window's metric (binomial for accuracy and F1, Hanley
    and McNeil for ROC-AUC), clipped to [0, 1]; None where no standard error is known."""
    if value is None or math.isnan(value):
        return None
    se = standard_error(name, value, realized)
    if not math.isfinite(se):
        return None
    return max(0.0, value - Z95 * se), min(1.0, value + Z95 * se)


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def performance_series(windows: Iterable[PerformanceWindow]) -> list[PerformanceSeries]:
    """Realized performance over time, one series per (version, variant), whole stream only:
    for each metric the window starts, values and 95% interval bounds."""
    series: dict[tuple[str, str], PerformanceSeries] = {}
    for w in sorted(windows, key=lambda w: w.window_start):
        if w.basis != "REALIZED" or w.segment:
            continue
        variant = w.variant or "served"
        key = (w.model_version, variant)
        s = series.setdefault(key, _empty_series(key[0], variant))
        s["window_start"].append(w.window_start)
        s["n"].append(w.sample_size)
        for metric in METRICS:
            value = _number(w.realized.get(metric))
            counts = {**w.realized, "n": w.sample_size}
            bounds = interval(metric, value, counts) if value is not None else None
            points: MetricSeries = s[metric]  # type: ignore[literal-required]
            points["value"].append(value)
            points["low"].append(bounds[0] if bounds else None)
            points["high"].append(bounds[1] if bounds else None)
    return [series[k] for k in sorted(series)]


def _empty_series(version: str, variant: str) -> PerformanceSeries:
    def empty() -> MetricSeries:
        return {"value": [], "low": [], "high": []}

    return {
        "version": version,
        "variant": variant,
        "n": [],
        "window_start": [],
        "accuracy": empty(),
        "roc_auc": empty(),
        "f1": empty(),
        "brier": empty(),
    }


TAKEOVER_STATUSES = ("PROMOTED", "ROLLED_BACK")


def takeovers(events: Iterable[ModelVersionEvent]) -> list[Takeover]:
    """When each champion took over (a promotion or a rollback), oldest first."""
    return [
        {
            "time": e.event_time,
            "version": e.version,
            "previous_version": e.previous_version,
            "status": e.status,
            "reason": e.reason,
        }
        for e in sorted(events, key=lambda e: e.event_time)
        if e.status in TAKEOVER_STATUSES and e.version
    ]


def rates(samples: Sequence[tuple[float, int, int]]) -> list[Rate]:
    """Records/s in (patient records) and out (predictions) between successive samples of
    how many of each the console has counted, taken at (time s, in, out)."""
    out: list[Rate] = []
    for (t0, in0, out0), (t1, in1, out1) in itertools.pairwise(samples):
        dt = t1 - t0
        if dt <= 0:
            continue
        out.append({"time": t1, "in_rps": (in1 - in0) / dt, "out_rps": (out1 - out0) / dt})
    return out


def version_rows(
    versions: Iterable[VersionSummary],
    events: Iterable[ModelVersionEvent],
    audits: Iterable[AuditEvent],
) -> list[VersionRow]:
    """Every registered version with its metrics, aliases, lineage, and history: the
    model-version events about it, each with who did it (an audit record of a person, or the
    worker that published it) and why. Newest version first."""
    history: dict[str, list[HistoryEntry]] = {}
    people = sorted(audits, key=lambda a: a.event_time)
    for e in sorted(events, key=lambda e: e.event_time):
        if not e.version:
            continue
        person = _audit_for(e, people)
        history.setdefault(e.version, []).append(
            {
                "time": e.event_time,
                "status": e.status,
                "reason": e.reason,
                "by": person.actor if person else "riskstream (automatic)",
                "why": person.reason if person else e.reason,
            }
        )
    rows = [VersionRow(**v, history=history.get(v["version"], [])) for v in versions]
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


AUDITED = {
    "PROMOTED": ("promote", "approve"),
    "ROLLED_BACK": ("rollback",),
    "CHALLENGER": ("challenge",),
    "REJECTED": ("reject",),
}


def _audit_for(
    event: ModelVersionEvent, audits: Sequence[AuditEvent], within_ms: int = 60_000
) -> AuditEvent | None:
    """The person's action that caused a model-version event: same version, a matching
    action, published within a minute before it."""
    actions = AUDITED.get(event.status, ())
    for audit in reversed(audits):
        if (
            audit.action in actions
            and audit.version == event.version
            and 0 <= audit.event_time - event.event_time <= within_ms
        ):
            return audit
    return None


def drift_matrix(windows: Sequence[DriftWindow]) -> DriftMatrix:
    """The feature x window heatmap: PSI as z, KS and JS for the hover, windows oldest
    first."""
    ordered = sorted(windows, key=lambda w: w["start"])
    features = sorted({v["feature"] for w in ordered for v in w["verdicts"]})
    grid: dict[str, list[list[float | None]]] = {"psi": [], "ks": [], "js": []}
    for feature in features:
        for stat in grid:
            row = []
            for w in ordered:
                found = next((v for v in w["verdicts"] if v["feature"] == feature), None)
                row.append(_number(found[stat]) if found else None)  # type: ignore[literal-required]
            grid[stat].append(row)
    return {
        "windows": [w["start"] for w in ordered],
        "versions": [w["version"] for w in ordered],
        "sizes": [w["n"] for w in ordered],
        "features": features,
        "psi": grid["psi"],
        "ks": grid["ks"],
        "js": grid["js"],
    }


RETRAIN_OUTCOMES = ("PROMOTED", "CHALLENGER", "REJECTED", "FAILED", "SKIPPED")


def last_retrain(
    requests: Iterable[RetrainRequest],
    events: Iterable[ModelVersionEvent],
    alerts: Iterable[DriftAlert] = (),
    switched: Mapping[str, int] | None = None,
) -> LastRetrain | None:
    """The latest retrain request and what came of it: the trainer's first decision after it
    (PENDING while none has come), and the seconds of each phase of the recovery the console
    can date (``retrain_phases``)."""
    request = max(requests, key=lambda r: r.event_time, default=None)
    if request is None:
        return None
    history = list(events)
    after = sorted(
        (e for e in history if e.status in RETRAIN_OUTCOMES and e.event_time >= request.event_time),
        key=lambda e: e.event_time,
    )
    outcome = after[0] if after else None
    return {
        "requested_at": request.event_time,
        "reasons": list(request.reasons),
        "detail": request.detail,
        "outcome": outcome.status if outcome else "PENDING",
        "version": outcome.version if outcome else None,
        "reason": outcome.reason if outcome else None,
        "decided_at": outcome.event_time if outcome else None,
        "phases": retrain_phases(request, history, alerts, switched or {}),
    }


def retrain_phases(
    request: RetrainRequest,
    events: Iterable[ModelVersionEvent],
    alerts: Iterable[DriftAlert],
    switched: Mapping[str, int],
) -> RetrainPhases:
    """Seconds of decision (the request's first alert → the request), training (→ its
    version REGISTERED), promotion (→ PROMOTED) and swap (→ the last partition of the
    predictions carrying it); None where a step has not happened or cannot be dated."""
    retrain_id = request.retrain_id
    mine = sorted(
        (e for e in events if retrain_id in e.lineage.get("retrain_ids", "").split(",")),
        key=lambda e: e.event_time,
    )
    registered = next((e for e in mine if e.status == "REGISTERED"), None)
    promoted = next((e for e in mine if e.status == "PROMOTED"), None)
    raised = [a.event_time for a in alerts if a.alert_id in set(request.alert_ids)]
    served = switched.get(promoted.version or "") if promoted else None
    steps = [
        min(raised) if raised else None,
        request.event_time,
        registered.event_time if registered else None,
        promoted.event_time if promoted else None,
        served,
    ]
    decision, training, promotion, swap = (
        None if a is None or b is None else round((b - a) / 1000, 2)
        for a, b in itertools.pairwise(steps)
    )
    return {"decision": decision, "training": training, "promotion": promotion, "swap": swap}
