"""The live referee (in the trainer, with ``RISKSTREAM_PROMOTION_EVIDENCE=live``): promote the
challenger once paired tests on live labels show it better, reject it when they show it
worse or it waits too long.

Stateless by design: the evidence is every labeled example that carries both versions'
scores since the version became challenger (the registry's ``riskstream.challenged_at``
tag), read again from `labeled-examples` at each look. A restarted trainer decides from the
same evidence; an undecided look changes nothing. The decision, with n, each difference,
its interval and p-value, goes with the PROMOTED or REJECTED event and into the version's
tags (``riskstream.live_evidence``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import publish_model_event
from riskstream.io.kafka.reading import Start, messages
from riskstream.models.monitoring.live_evidence import (
    LiveDecision,
    LiveEvidence,
    Pair,
    live_decision,
    live_evidence,
    pair_of,
)
from riskstream.models.registry_reader import CHALLENGER, CHAMPION
from riskstream.schemas import CodecError
from riskstream.schemas.events import LabeledExample, ModelVersionEvent

if TYPE_CHECKING:
    from riskstream.models.registry import Registry
    from riskstream.models.registry_process import RegistryProcess

log = logging.getLogger(__name__)


def read_pairs(settings: MonitoringSettings, start: Start) -> tuple[int, int, list[Pair]]:
    """(examples read, undecodable, pairs) of `labeled-examples` from ``start`` to its end."""
    codec = codec_for(settings)
    pairs: list[Pair] = []
    read = undecodable = 0
    for message in messages(settings, settings.topic(LABELED_EXAMPLES.name), start, None):
        read += 1
        try:
            example = codec.decode_event(message.value(), LabeledExample)
        except CodecError:
            undecodable += 1
            continue
        pair = pair_of(example)
        if pair is not None:
            pairs.append(pair)
    return read, undecodable, pairs


class EvidenceWatcher:
    """A trainer thread that weighs live evidence every ``referee_interval_s``: the referee
    of a challenger, or the canary of a promotion (``canary.py``)."""

    name = "evidence watcher"

    def __init__(
        self, settings: MonitoringSettings, registry: Registry | RegistryProcess | None = None
    ) -> None:
        self.settings = settings
        if registry is None:  # the trainer passes its registry process; a test, nothing
            from riskstream.models.registry import Registry

            registry = Registry(settings)
        self.registry = registry
        self.decisions: list[ModelVersionEvent] = []

    def run(self, stop: threading.Event) -> None:
        """Look every ``referee_interval_s`` until ``stop``; an error is logged, not fatal."""
        while not stop.wait(self.settings.referee_interval_s):
            try:
                self.judge()
            except Exception:  # a registry or broker hiccup: the next look tries again
                log.exception("%s: could not weigh the live evidence; retrying", self.name)

    def judge(self) -> ModelVersionEvent | None:
        """One look: the event of a decision, or None."""
        raise NotImplementedError


class LiveReferee(EvidenceWatcher):
    name = "referee"

    def judge(self) -> ModelVersionEvent | None:
        """One look: the event of a promotion or rejection, or None while undecided."""
        champion = self.registry.alias_version(CHAMPION)
        challenger = self.registry.alias_version(CHALLENGER)
        if champion is None or challenger is None or challenger == champion:
            return None
        since = self.registry.challenged_at(self.registry.get(challenger))
        _, _, pairs = read_pairs(self.settings, since)
        evidence = next(
            (
                e
                for e in live_evidence(pairs, self.settings.live_confidence)
                if (e.champion_version, e.challenger_version) == (champion, challenger)
            ),
            None,
        )
        s = self.settings
        decision = live_decision(
            evidence,
            min_labels=s.live_min_labels,
            confidence=s.live_confidence,
            waited_s=time.time() - since / 1000,
            max_wait_s=s.live_max_wait_s,
        )
        log.info("referee: challenger %s against %s: %s", challenger, champion, decision.reason)
        if decision.action == "wait":
            return None
        event = ModelVersionEvent.announce(
            self.settings.model_name,
            "PROMOTED" if decision.action == "promote" else "REJECTED",
            version=challenger,
            alias=CHAMPION if decision.action == "promote" else None,
            previous_version=champion,
            reason=decision.reason,
            metrics=evidence_metrics(evidence),
        )
        # The event first: if the registry write is then lost to a crash, the alias still
        # names the challenger and the next look decides again (at least once).
        publish_model_event(self.settings, event)
        self._apply(challenger, decision)
        self.decisions.append(event)
        return event

    def _apply(self, challenger: str, decision: LiveDecision) -> None:
        if decision.action == "promote":
            self.registry.record_evidence(challenger, decision.reason)
            self.registry.promote(challenger, watch=True)
        else:
            self.registry.end_challenge(challenger, decision.reason)


def evidence_metrics(evidence: LiveEvidence | None) -> dict[str, float]:
    if evidence is None:
        return {}
    metrics = {"live_n": float(evidence.n), "live_positives": float(evidence.positives)}
    for test in (evidence.roc_auc, evidence.accuracy):
        if test is not None:
            prefix = f"live_{test.statistic}"
            metrics |= {
                f"{prefix}_champion": test.a,
                f"{prefix}_challenger": test.b,
                f"{prefix}_difference": test.difference,
                f"{prefix}_ci_low": test.ci_low,
                f"{prefix}_ci_high": test.ci_high,
                f"{prefix}_p_value": test.p_value,
            }
    return metrics
