"""What a closed-loop run (``riskstream demo``) saw, and whether each of its steps happened.

Two shapes of run: the drift demo (drift → alert → retrain → promotion, on holdout or on live
evidence → recovery) and the bad challenger (a retrain on a drift that then ends: the version
learned a concept live traffic no longer follows, so it must be rejected on live evidence, or
rolled back by the canary watch when the holdout promoted it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from riskstream.models.monitoring.alerts import alert_subject
from riskstream.models.monitoring.trigger_policy import DISTRIBUTION_KINDS
from riskstream.schemas.events import DriftAlert, LabeledExample, ModelVersionEvent, RetrainRequest

BAD_CHALLENGER = "bad-challenger"  # the demo scenario: a drift that ends after the retrain
DECISIONS = frozenset({"PROMOTED", "REJECTED", "ROLLED_BACK", "CONFIRMED"})


@dataclass
class Phase:
    n: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def add(self, label: int, predicted: int) -> None:
        self.n += 1
        self.correct += int(label == predicted)


@dataclass
class LoopReport:
    old_version: str
    scenario: str = "drift-demo"
    evidence: str = "holdout"  # how promotions are decided (RISKSTREAM_PROMOTION_EVIDENCE)
    new_version: str | None = None
    promoted: list[str] = field(default_factory=list)  # every version promoted in the run
    challenger: str | None = None  # the version the trainer made challenger (live evidence)
    records: int = 0
    seconds: float = 0.0
    alerts: list[DriftAlert] = field(default_factory=list)
    requests: list[tuple[str, RetrainRequest]] = field(default_factory=list)
    outcome: dict[str, Any] | None = None  # the trainer's event for the retrain
    search_status: str | None = None  # the outcome of the background search that followed
    decisions: list[ModelVersionEvent] = field(default_factory=list)  # referee's and canary's
    first_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    phases: dict[str, Phase] = field(default_factory=dict)  # served predictions, by period
    shadow: dict[str, Phase] = field(default_factory=dict)  # shadow scores, by version
    drift_onset: float = 0.0
    drift_ended_at: int | None = None  # bad challenger: the first record after the drift
    # the steps of the recovery, epoch seconds (see recovery_phases)
    alerted_at: float | None = None  # the first HIGH+ drift alert was raised
    requested_at: float | None = None  # the retrain was requested
    registered_at: float | None = None  # the retrained version was registered
    promoted_at: float | None = None  # it was promoted
    recovered_at: float | None = None  # the scorer served it
    # (request → registered) as the trainer timed it: reading the examples, and the fit
    trainer_seconds: str = ""
    settled_at: float | None = None  # bad challenger: when it was rejected or rolled back
    final_version: str | None = None  # the champion the scorer served at the end
    missing_steps: list[str] = field(default_factory=list)
    capped: bool = False  # the traffic reached its cap before the evidence was in
    cap_s: float = 0.0
    undecodable: int = 0  # labeled examples the report could not read
    died: dict[str, str] = field(default_factory=dict)  # worker → why its thread ended
    timeline: list[tuple[float, str]] = field(default_factory=list)  # (seconds, what)

    @property
    def time_to_recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.drift_onset

    @property
    def closed(self) -> bool:
        return not self.missing_steps

    @property
    def bad_challenger(self) -> bool:
        return self.scenario == BAD_CHALLENGER

    def decision(self, status: str) -> ModelVersionEvent | None:
        """The first referee or canary decision of ``status``."""
        return next((d for d in self.decisions if d.status == status), None)

    def live_evidence(self) -> dict[str, float]:
        """The paired evidence of the run's live decision (live_n, live_roc_auc_*, ...)."""
        for decision in self.decisions:
            if "live_n" in decision.metrics:
                return dict(decision.metrics)
        return {}


PHASES = (  # (name, from, to): the recovery after drift onset, step by step
    ("detection", "drift_onset", "alerted_at"),
    ("decision", "alerted_at", "requested_at"),
    ("training", "requested_at", "registered_at"),
    ("promotion", "registered_at", "promoted_at"),
    ("swap", "promoted_at", "recovered_at"),
)


PHASE_STEPS = {  # what each phase spans, as a person reads it
    "detection": "drift onset → first HIGH+ drift alert",
    "decision": "alert → retrain request",
    "training": "request → version registered",
    "promotion": "registered → PROMOTED",
    "swap": "PROMOTED → the scorer serving it",
    "after alert": "first HIGH+ alert → the scorer serving the new champion",
    "total": "drift onset → the scorer serving the new champion",
}


def recovery_phases(report: LoopReport) -> dict[str, float | None]:
    """Seconds each step of the recovery took: detection (onset → first HIGH+ alert),
    decision (→ retrain request), training (→ version registered), promotion (→ PROMOTED),
    swap (→ the scorer serving it); then ``after alert`` (first HIGH+ alert → serving) and
    ``total`` (onset → serving). None where a step did not happen."""

    def span(start: str, end: str) -> float | None:
        a, b = getattr(report, start), getattr(report, end)
        return None if a is None or b is None or not a else round(b - a, 2)

    phases = {name: span(start, end) for name, start, end in PHASES}
    phases["after alert"] = span("alerted_at", "recovered_at")
    phases["total"] = span("drift_onset", "recovered_at")
    return phases


def count_phases(
    report: LoopReport, examples: list[LabeledExample], prefix: str, drift_index: int
) -> None:
    """Accuracy of the served predictions before the drift, during it (old champion on
    drifted traffic) and after recovery (new champion), or for the bad challenger after the
    drift ended, by serving version; and of each version's shadow scores."""
    phases: dict[str, Phase] = {"before drift": Phase(), "during drift": Phase()}
    if not report.bad_challenger:
        phases["after recovery"] = Phase()
    for example in examples:
        index = int(example.request_id[len(prefix) :])
        if index < drift_index:
            period = "before drift"
        elif report.bad_challenger and index >= (report.drift_ended_at or 1 << 62):
            period = f"after the drift, served by v{example.model_version}"
        elif not report.bad_challenger and (
            example.model_version == report.new_version or example.model_version in report.promoted
        ):
            period = "after recovery"
        else:
            period = "during drift"
        phases.setdefault(period, Phase()).add(example.label, example.predicted_label)
        if example.shadow_version is not None and example.shadow_label is not None:
            shadow = report.shadow.setdefault(f"v{example.shadow_version}", Phase())
            shadow.add(example.label, example.shadow_label)
    report.phases = phases


def dead_end(report: LoopReport) -> str | None:
    """Why the run can no longer reach its last step, or None while it can: the trainer
    skipped or failed the retrain, or turned it away with nothing left to promote it (on
    holdout evidence, the background search that followed was not promoted either). The
    demo then ends its traffic and says so, instead of running to its cap."""
    if report.outcome is None:
        return None
    status, reason = report.outcome["status"], report.outcome["reason"]
    if status in ("SKIPPED", "FAILED", "REJECTED"):
        return f"the trainer's outcome was {status}: {reason}"
    searched = report.search_status not in (None, "PROMOTED")
    if report.evidence == "holdout" and status != "PROMOTED" and searched:
        return f"neither the refit ({status}) nor the search ({report.search_status}) was promoted"
    return None


def still_drifting(alerts: list[DriftAlert]) -> list[str]:
    """The drift subjects whose last alert is FIRING: not resolved by the end of the run."""
    last: dict[str, str] = {}
    for alert in alerts:
        if alert.kind in DISTRIBUTION_KINDS:
            last[alert_subject(alert)] = alert.status
    return sorted(subject for subject, status in last.items() if status == "FIRING")


def judge(report: LoopReport) -> None:
    """Name every step of the run's shape that did not happen (``missing_steps``)."""
    missing = report.missing_steps
    for name, why in report.died.items():
        missing.append(f"the {name} worker died: {why}")
    if not any(a.status == "FIRING" for a in report.alerts):
        missing.append("no drift alert fired")
    if not report.requests:
        missing.append("no retrain was requested")
    if len(report.requests) > 1:
        missing.append(f"{len(report.requests)} retrain requests for one incident")
    if report.capped:
        missing.append(
            f"the traffic reached its cap (--duration {report.cap_s:.0f} s) before the new "
            "champion's windows were judged; a slower machine needs a higher cap"
        )
    if report.bad_challenger:
        _judge_bad_challenger(report)
    else:
        _judge_recovery(report)


def _trainer_said(report: LoopReport) -> str:
    if report.outcome is None:
        return ""
    return f" (trainer: {report.outcome['status']}: {report.outcome['reason']})"


def _judge_recovery(report: LoopReport) -> None:
    missing = report.missing_steps
    if report.evidence == "live" and report.challenger is None:
        missing.append(
            "the retrained version did not become the challenger" + _trainer_said(report)
        )
    if report.new_version is None:
        missing.append("no new champion was promoted" + _trainer_said(report))
    elif report.recovered_at is None:
        missing.append("the scorer never served the new champion")
    else:
        still = still_drifting(report.alerts)
        if still:
            missing.append(f"drift alerts still firing after recovery: {', '.join(still)}")
    if report.evidence == "live" and report.new_version and not report.live_evidence():
        missing.append("the promotion carried no live evidence")
    rolled = report.decision("ROLLED_BACK")
    if rolled is not None:
        missing.append(f"the canary rolled the new champion back: {rolled.reason}")
    during = report.phases.get("during drift", Phase())
    after = report.phases.get("after recovery", Phase())
    if not after.n or not during.n:
        missing.append("too few labeled predictions to compare old and new champion")
    elif not after.accuracy > during.accuracy:
        missing.append(
            f"the new champion ({after.accuracy:.3f}) did not beat the old one "
            f"({during.accuracy:.3f}) on drifted traffic"
        )


def _judge_bad_challenger(report: LoopReport) -> None:
    missing = report.missing_steps
    bad = report.challenger if report.evidence == "live" else report.new_version
    if bad is None:
        wanted = "challenger" if report.evidence == "live" else "promoted on its holdout"
        missing.append(f"no retrained version was {wanted}{_trainer_said(report)}")
        return
    if report.evidence == "live":
        if report.decision("PROMOTED") is not None:
            missing.append(f"the bad challenger, version {bad}, was promoted")
        if report.decision("REJECTED") is None:
            missing.append(f"the bad challenger, version {bad}, was never rejected")
    elif report.decision("ROLLED_BACK") is None:
        missing.append(f"the bad promotion of version {bad} was never rolled back")
    if report.final_version != report.old_version:
        missing.append(
            f"the scorer ended serving version {report.final_version}, not the old champion "
            f"{report.old_version}"
        )
    if not report.live_evidence():
        missing.append("the decision carried no live evidence")
