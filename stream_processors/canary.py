"""The canary watch: after a promotion, roll the new champion back when the previous one,
scored in shadow, proves better on the same live records.

It runs in the trainer worker beside the referee: moving aliases takes the MLflow client,
which the trigger is kept free of (bounded memory: the trigger holds ~90 MiB, MLflow alone
costs 75-130 MiB).

A promotion with a watch (``RISKSTREAM_CANARY_WINDOWS`` > 0) leaves the old champion under
the registry's `previous` alias, and the scorers score it in shadow beside the new one (it
never serves). Each look pairs the two scores of every labeled record since the promotion and
runs the referee's paired tests (DeLong, McNemar) on them. When the previous champion is
significantly better, the watch publishes ROLLED_BACK (the scorers swap back on it) and a HIGH
ROLLBACK alert with the evidence, then moves the alias. After ``canary_windows`` performance
windows of paired labels without that, it publishes CONFIRMED and ends the watch.

Stateless, like the referee: the registry says what is watched and since when, and the
evidence is read again at each look. The event goes out before the registry write, so a crash
between them repeats the decision at the next look (at least once), never loses it.
"""

from __future__ import annotations

import logging
import time

from riskstream.core.topics import DRIFT_ALERTS
from riskstream.io.kafka.clients import publish_events
from riskstream.io.kafka.model_events import publish_model_event
from riskstream.models.monitoring.alerts import alert_event
from riskstream.models.monitoring.live_evidence import (
    LiveDecision,
    LiveEvidence,
    canary_decision,
    live_evidence,
    paired_windows,
)
from riskstream.models.registry_reader import CHAMPION, Watch
from riskstream.schemas.events import (
    AlertKind,
    AlertStatus,
    DriftAlert,
    ModelVersionEvent,
    Severity,
)
from riskstream.stream_processors.referee import EvidenceWatcher, evidence_metrics, read_pairs

log = logging.getLogger(__name__)


class CanaryWatch(EvidenceWatcher):
    name = "canary"

    def judge(self) -> ModelVersionEvent | None:
        """One look: the ROLLED_BACK or CONFIRMED event, or None while watching (or idle)."""
        watch = self.registry.watch()
        if watch is None:
            return None
        s = self.settings
        _, _, pairs = read_pairs(s, watch.since_ms)
        pairs = [
            p
            for p in pairs
            if (p.champion_version, p.challenger_version) == (watch.champion, watch.previous)
        ]
        evidence = live_evidence(pairs, s.live_confidence)[0] if pairs else None
        decision = canary_decision(
            evidence,
            windows_seen=paired_windows(
                pairs, s.performance_window_s * 1000, s.performance_min_sample
            ),
            windows=s.canary_windows,
            min_labels=s.live_min_labels,
            confidence=s.live_confidence,
            waited_s=time.time() - watch.since_ms / 1000,
            max_wait_s=s.live_max_wait_s,
        )
        log.info(
            "canary: version %s against %s: %s (%s)",
            watch.champion,
            watch.previous,
            decision.action,
            decision.reason,
        )
        if decision.action == "wait":
            return None
        event = self._event(watch, decision, evidence)
        publish_model_event(s, event)
        if decision.action == "rollback":
            alert = self._alert(watch, decision, evidence.n if evidence else 0)
            publish_events(s, DRIFT_ALERTS.name, [(b"rollback", alert)])
            self.registry.rollback(decision.reason, to=watch.previous)
        else:
            self.registry.end_watch(watch.champion, decision.reason)
        self.decisions.append(event)
        return event

    def _event(
        self, watch: Watch, decision: LiveDecision, evidence: LiveEvidence | None
    ) -> ModelVersionEvent:
        rollback = decision.action == "rollback"
        return ModelVersionEvent.announce(
            self.settings.model_name,
            "ROLLED_BACK" if rollback else "CONFIRMED",
            version=watch.previous if rollback else watch.champion,
            alias=CHAMPION,
            previous_version=watch.champion if rollback else watch.previous,
            reason=decision.reason,
            metrics=evidence_metrics(evidence),
        )

    def _alert(self, watch: Watch, decision: LiveDecision, n: int) -> DriftAlert:
        now = int(time.time() * 1000)
        return alert_event(
            self.settings.model_name,
            watch.champion,
            kind=AlertKind.ROLLBACK,
            status=AlertStatus.FIRING,
            severity=Severity.HIGH,
            statistic="canary",
            value=1.0,
            threshold=0.0,
            window=(watch.since_ms, now),
            sample_size=n,
            message=f"version {watch.champion} rolled back to {watch.previous}: {decision.reason}",
        )
