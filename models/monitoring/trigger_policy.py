"""When to ask for a retrain: a pure policy over alerts, label counts and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from riskstream.schemas.events import AlertKind, DriftAlert, Severity

# what the drift monitor compares with the version's reference: features, score, joint structure
DISTRIBUTION_KINDS = frozenset(
    {AlertKind.DATA_DRIFT, AlertKind.SCORE_DRIFT, AlertKind.MULTIVARIATE_DRIFT}
)
DRIFT_KINDS = DISTRIBUTION_KINDS | {AlertKind.CONCEPT_DRIFT}


@dataclass(frozen=True)
class TriggerConfig:
    min_severity: str = "HIGH"
    label_count: int = 1000
    cooldown_ms: int = 600_000
    schedule_ms: int = 0  # 0: no schedule
    on_estimate: bool = False  # PERFORMANCE_ESTIMATE alerts are a retrain reason
    on_segment: bool = False  # alerts about one source segment are a retrain reason


@dataclass(frozen=True)
class TriggerState:
    last_request_ms: int | None = None
    labels_since_request: int = 0


@dataclass(frozen=True)
class Request:
    reasons: tuple[str, ...]
    alert_ids: tuple[str, ...] = ()
    range_start: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    state: TriggerState
    request: Request | None = None
    absorbed: list[str] = field(default_factory=list)  # triggers the cooldown swallowed


def _cooling(state: TriggerState, now_ms: int, config: TriggerConfig) -> bool:
    return state.last_request_ms is not None and now_ms - state.last_request_ms < config.cooldown_ms


def _fire(state: TriggerState, now_ms: int, config: TriggerConfig, request: Request) -> Decision:
    if _cooling(state, now_ms, config):
        return Decision(state, None, [",".join(request.reasons)])
    return Decision(TriggerState(now_ms, 0), request)


def on_alert(
    alert: DriftAlert, state: TriggerState, now_ms: int, config: TriggerConfig
) -> Decision:
    """A FIRING alert of enough severity requests a retrain over the data since it began."""
    if alert.status != "FIRING":
        return Decision(state)
    if Severity(alert.severity).rank < Severity(config.min_severity).rank:
        return Decision(state)
    if alert.segment is not None and not config.on_segment:
        return Decision(state)  # one clinic's problem: retrain only when asked to
    kind = alert.kind
    if kind == "PERFORMANCE":
        reason = "PERFORMANCE_DROP"
    elif kind == "PERFORMANCE_ESTIMATE" and config.on_estimate:
        reason = "PERFORMANCE_ESTIMATE"
    elif kind in DRIFT_KINDS:
        reason = "DRIFT_ALERT"
    else:
        return Decision(state)  # data quality, volume, model load: not a reason to retrain
    start_ms = alert.window_start
    subject = alert.feature or alert.statistic
    if alert.segment is not None:
        subject = f"{subject} in {alert.segment}"
    return _fire(
        state,
        now_ms,
        config,
        Request(
            (reason,),
            (alert.alert_id,),
            start_ms,
            f"{kind} {alert.severity} on {subject}",
        ),
    )


def on_labels(count: int, state: TriggerState, now_ms: int, config: TriggerConfig) -> Decision:
    """Enough new labeled examples request a retrain over them."""
    state = replace(state, labels_since_request=state.labels_since_request + count)
    if state.labels_since_request < config.label_count:
        return Decision(state)
    return _fire(
        state,
        now_ms,
        config,
        Request(
            ("LABEL_COUNT",),
            (),
            state.last_request_ms,
            f"{state.labels_since_request} new labeled examples",
        ),
    )


def on_tick(state: TriggerState, now_ms: int, config: TriggerConfig) -> Decision:
    """The optional schedule."""
    if not config.schedule_ms:
        return Decision(state)
    if state.last_request_ms is not None and now_ms - state.last_request_ms < config.schedule_ms:
        return Decision(state)
    if state.last_request_ms is None:
        return Decision(TriggerState(now_ms, state.labels_since_request))  # start the clock
    return _fire(
        state,
        now_ms,
        config,
        Request(("SCHEDULE",), (), state.last_request_ms, "scheduled retrain"),
    )
