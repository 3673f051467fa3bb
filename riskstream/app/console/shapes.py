"""The JSON the console's API answers, typed: the views build these from typed events, the
routes declare them, and FastAPI checks every answer against them on its way out (a view
that drifts from the pages' contract fails its request, not the page's script)."""

from __future__ import annotations

from typing_extensions import TypedDict

from riskstream.models.monitoring.notifications import Hold


class Rate(TypedDict):
    """Records/s in (patient records) and out (predictions) at ``time`` (epoch s)."""

    time: float
    in_rps: float
    out_rps: float


class Incident(TypedDict):
    """A FIRING alert, with the alert that closed it (``resolved_*`` None while active)."""

    alert_id: str
    subject: str
    fired_at: int
    severity: str
    kind: str
    feature: str | None
    about: str
    statistic: str
    value: float
    threshold: float
    segment: str | None
    model_version: str
    message: str
    resolved_at: int | None
    resolved_value: float | None
    resolved_by: str | None


class IncidentState(Incident):
    """An incident with its acknowledgement and silence, if any."""

    ack: Hold | None
    silence: Hold | None


class MetricSeries(TypedDict):
    """One metric over windows: values and their 95% interval bounds."""

    value: list[float | None]
    low: list[float | None]
    high: list[float | None]


class PerformanceSeries(TypedDict):
    """One (version, variant)'s realized windows, whole stream."""

    version: str
    variant: str
    n: list[int]
    window_start: list[int]
    accuracy: MetricSeries
    roc_auc: MetricSeries
    f1: MetricSeries
    brier: MetricSeries


class Takeover(TypedDict):
    """When a champion took over: a promotion or a rollback."""

    time: int
    version: str | None
    previous_version: str | None
    status: str
    reason: str


class PerformanceView(TypedDict):
    series: list[PerformanceSeries]
    takeovers: list[Takeover]


class VersionSummary(TypedDict):
    """A registered version: its aliases, validation metrics and the tags the console shows."""

    version: str
    aliases: list[str]
    created: int
    metrics: dict[str, float]
    tags: dict[str, str]


class HistoryEntry(TypedDict):
    """A model-version event about a version, with who caused it and why."""

    time: int
    status: str
    reason: str
    by: str
    why: str


class VersionRow(VersionSummary):
    history: list[HistoryEntry]


class LiveMetrics(TypedDict, total=False):
    """A role's latest served windows: estimated before labels, realized after."""

    estimated: dict[str, float | None]
    estimated_low: dict[str, float | None]  # each estimate's 95% interval
    estimated_high: dict[str, float | None]
    estimated_n: int
    realized: dict[str, float | None]
    realized_n: int


class Role(VersionSummary):
    live: LiveMetrics


class RetrainPhases(TypedDict):
    """Seconds of each phase of a recovery; None where it has not happened."""

    decision: float | None
    training: float | None
    promotion: float | None
    swap: float | None


class LastRetrain(TypedDict):
    """The latest retrain request and the trainer's first decision after it."""

    requested_at: int
    reasons: list[str]
    detail: str
    outcome: str
    version: str | None
    reason: str | None
    decided_at: int | None
    phases: RetrainPhases


class Overview(TypedDict):
    model: str
    undecodable_events: int
    rates: list[Rate]
    lag: dict[str, int]
    roles: dict[str, Role | None]
    active_alerts: list[Incident]
    last_retrain: LastRetrain | None


class DriftCell(TypedDict):
    """One feature's (or the score's) statistics in one window."""

    feature: str
    psi: float
    ks: float
    js: float
    drifting: bool


class DriftWindow(TypedDict):
    """A closed window of the drift monitor, judged against its version's reference."""

    start: int
    version: str
    n: int
    verdicts: list[DriftCell]


class DriftMatrix(TypedDict):
    """The feature x window heatmap: PSI as z, KS and JS for the hover."""

    windows: list[int]
    versions: list[str]
    sizes: list[int]
    features: list[str]
    psi: list[list[float | None]]
    ks: list[list[float | None]]
    js: list[list[float | None]]


class FeatureHistogram(TypedDict):
    """Reference and window shares of one feature over the reference's bins."""

    version: str
    start: int
    feature: str
    edges: list[float]
    reference: list[float]
    current: list[float]
    n: int
