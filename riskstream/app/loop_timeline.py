"""The closed loop's timeline: each step printed as it happens, read from the topics as a user
watching them would (alerts, retrain requests, model versions), plus the workers' progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from riskstream.app.loop_report import DECISIONS, LoopReport
from riskstream.core.topics import DRIFT_ALERTS, MODEL_VERSIONS, RETRAIN_REQUESTS
from riskstream.io.kafka.follow import EventFollower
from riskstream.models.monitoring.alerts import alert_subject
from riskstream.models.monitoring.trigger_policy import DISTRIBUTION_KINDS
from riskstream.schemas.events import DriftAlert, ModelVersionEvent, RetrainRequest
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.scorer import Scorer

Echo = Callable[[str], None]
# The drift monitor's alerts, and the canary's rollback: the ones the loop reacts to
# (performance alerts go to the log).
NARRATED_KINDS = DISTRIBUTION_KINDS | {"DATA_QUALITY", "VOLUME", "ROLLBACK"}
RETRAINING_KINDS = DISTRIBUTION_KINDS  # a HIGH+ one asks for a retrain
WHO = {"PROMOTED": "REFEREE", "REJECTED": "REFEREE", "ROLLED_BACK": "CANARY", "CONFIRMED": "CANARY"}


class Timeline:
    """Prints each step of the loop as it happens, and notes it in the report."""

    def __init__(
        self, echo: Echo, started: float, scorer: Scorer, joiner: Joiner, monitor: Monitor
    ) -> None:
        self.echo, self.started = echo, started
        self.settings = scorer.settings
        self.scorer, self.joiner, self.monitor = scorer, joiner, monitor

    def say(self, report: LoopReport, text: str) -> None:
        elapsed = time.time() - self.started
        report.timeline.append((elapsed, text))
        self.echo(f"  t+{elapsed:6.1f}s  {text}")

    def follow(self, report: LoopReport, stop: threading.Event) -> None:
        follower = EventFollower(
            self.settings,
            {
                DRIFT_ALERTS.name: DriftAlert,
                RETRAIN_REQUESTS.name: RetrainRequest,
                MODEL_VERSIONS.name: ModelVersionEvent,
            },
        )
        last_progress = last_evidence = 0.0
        paired = 0
        try:
            while not stop.is_set():
                for event in follower.poll(0.5):
                    self._event(report, event)
                self._serving(report)
                if time.time() - last_progress >= 15:
                    last_progress = time.time()
                    self._progress(report)
                challenged = report.challenger is not None and not report.decisions
                now_paired = self.joiner.stats.joined_with_shadow
                if challenged and now_paired > paired and time.time() - last_evidence >= 5:
                    last_evidence, paired = time.time(), now_paired
                    self.say(
                        report,
                        f"EVIDENCE {paired} labels joined with both versions' scores (the "
                        f"referee decides from {self.settings.live_min_labels})",
                    )
        finally:
            follower.close()

    def _event(self, report: LoopReport, event: object) -> None:
        if isinstance(event, DriftAlert) and event.kind in NARRATED_KINDS:
            self._alert(report, event)
        elif isinstance(event, RetrainRequest):
            report.requests.append((event.retrain_id, event))
            if report.requested_at is None:
                report.requested_at = event.event_time / 1000
            self.say(report, f"RETRAIN requested ({'+'.join(event.reasons)}: {event.detail})")
        elif isinstance(event, ModelVersionEvent) and "retrain_ids" in event.lineage:
            self._trainer(report, event)
        elif isinstance(event, ModelVersionEvent) and _decision(report, event):
            report.decisions.append(event)
            if event.status == "PROMOTED":
                report.new_version = event.version
                _promoted(report, event)
            if event.status in ("REJECTED", "ROLLED_BACK"):
                report.settled_at = time.time()
            self.say(
                report,
                f"{WHO[event.status]} {event.status} version {event.version}: {event.reason}",
            )

    def _alert(self, report: LoopReport, event: DriftAlert) -> None:
        report.alerts.append(event)
        detail = (
            event.message
            if event.kind == "ROLLBACK"
            else f"{alert_subject(event)}: {event.statistic} {event.value:.3f} "
            f"(window of {event.sample_size} records)"
        )
        if (
            report.alerted_at is None
            and event.status == "FIRING"
            and event.kind in RETRAINING_KINDS
            and event.severity in ("HIGH", "CRITICAL")
        ):
            report.alerted_at = event.event_time / 1000
        self.say(report, f"ALERT {event.status} {event.severity} {event.kind} {detail}")

    def _trainer(self, report: LoopReport, event: ModelVersionEvent) -> None:
        """The trainer's events of the run's retrain: the version registered, the outcome,
        and any outcome of the background search that followed."""
        if "search" in event.lineage:
            if event.status == "PROMOTED":
                report.new_version = report.new_version or event.version
                _promoted(report, event)
            if event.status != "REGISTERED":
                report.search_status = event.status
                self.say(report, f"SEARCH {event.status} version {event.version}: {event.reason}")
            return
        if event.status == "REGISTERED":
            if report.registered_at is None:
                report.registered_at = event.event_time / 1000
                report.trainer_seconds = event.lineage.get("seconds", "")
            self.say(report, f"TRAINER REGISTERED version {event.version}: {event.reason}")
            return
        report.outcome = event.to_avro()
        if event.status == "PROMOTED":
            report.new_version = event.version
            _promoted(report, event)
        elif event.status == "CHALLENGER":
            report.challenger = event.version
        self.say(report, f"TRAINER {event.status} version {event.version}: {event.reason}")
        if event.status == "CHALLENGER":
            self.say(report, "the challenger is scored in shadow while live evidence grows")

    def _serving(self, report: LoopReport) -> None:
        new = report.new_version
        if new and report.recovered_at is None and new in self.scorer.models.serving_since:
            report.recovered_at = self.scorer.models.serving_since[new]
            self.say(report, f"SCORER now serves version {new}")
        rolled, current = report.decision("ROLLED_BACK"), self.scorer.models.current
        if rolled and current and current.version == rolled.version != report.final_version:
            report.final_version = current.version
            self.say(report, f"SCORER serves version {current.version} again")

    def _progress(self, report: LoopReport) -> None:
        text = (
            f"scored {self.scorer.stats.predictions} records, "
            f"{self.monitor.stats.windows_closed} windows closed"
        )
        paired = self.joiner.stats.joined_with_shadow
        if paired:
            text += f", {paired} labels joined with a shadow score"
        self.say(report, text)


def _promoted(report: LoopReport, event: ModelVersionEvent) -> None:
    if event.version and event.version not in report.promoted:
        report.promoted.append(event.version)
    if report.promoted_at is None:
        report.promoted_at = event.event_time / 1000


def _decision(report: LoopReport, event: ModelVersionEvent) -> bool:
    """A referee's or the canary's decision (not the bootstrap's promotion of the old
    champion, which the timeline reads from the topic's start too)."""
    if event.status not in DECISIONS:
        return False
    return event.status in ("ROLLED_BACK", "CONFIRMED") or event.version != report.old_version
