"""Champion against challenger on the same labeled records (pure).

A labeled example of a record scored by both variants carries the served score and the
shadow one (see the joiner). :func:`pair_of` puts them back as champion's and challenger's,
whichever of them served; :func:`live_evidence` gives each variant's metrics on those records
and the paired tests (DeLong for ROC-AUC, McNemar for accuracy) that decide whether the
challenger is better.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from riskstream.models.evidence import PairedTest, delong_test, mcnemar_test
from riskstream.models.monitoring.variants import CHAMPION_VARIANT
from riskstream.schemas.events import LabeledExample


@dataclass(frozen=True)
class Pair:
    """One labeled record as both variants scored it."""

    label: int
    champion_version: str
    champion_risk: float
    champion_label: int
    challenger_version: str
    challenger_risk: float
    challenger_label: int
    labeled_at: int = 0  # the ground truth's event time: the performance window it is in


@dataclass(frozen=True)
class LiveEvidence:
    champion_version: str
    challenger_version: str
    n: int
    positives: int
    champion_accuracy: float
    challenger_accuracy: float
    roc_auc: PairedTest | None  # None until both classes have two records
    accuracy: PairedTest


def pair_of(example: LabeledExample) -> Pair | None:
    """The example as (champion, challenger), or None when no shadow score came with it."""
    if example.shadow_version is None or example.shadow_risk is None:
        return None
    served = (example.model_version, example.risk, example.predicted_label)
    shadow = (example.shadow_version, example.shadow_risk, int(example.shadow_label or 0))
    champion, challenger = (
        (served, shadow) if example.variant == CHAMPION_VARIANT else (shadow, served)
    )
    return Pair(example.label, *champion, *challenger, labeled_at=example.labeled_at)


def live_evidence(pairs: Iterable[Pair], confidence: float = 0.95) -> list[LiveEvidence]:
    """One entry per (champion, challenger) version pair, in order of first appearance."""
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault((pair.champion_version, pair.challenger_version), []).append(pair)
    return [_evidence(key, group, confidence) for key, group in groups.items()]


def _evidence(key: tuple[str, str], group: list[Pair], confidence: float) -> LiveEvidence:
    y = np.array([p.label for p in group], dtype=int)
    a_risk = np.array([p.champion_risk for p in group])
    b_risk = np.array([p.challenger_risk for p in group])
    a_label = np.array([p.champion_label for p in group], dtype=int)
    b_label = np.array([p.challenger_label for p in group], dtype=int)
    positives = int(y.sum())
    roc_auc = (
        delong_test(y, a_risk, b_risk, confidence)
        if min(positives, len(y) - positives) >= 2
        else None
    )
    return LiveEvidence(
        champion_version=key[0],
        challenger_version=key[1],
        n=len(group),
        positives=positives,
        champion_accuracy=float((a_label == y).mean()),
        challenger_accuracy=float((b_label == y).mean()),
        roc_auc=roc_auc,
        accuracy=mcnemar_test(y, a_label, b_label, confidence),
    )


def verdict(evidence: LiveEvidence, alpha: float) -> str:
    """``worse`` if either paired test finds the challenger significantly worse, ``better`` if
    one finds it better and neither worse, else ``undecided``."""
    tests = [t for t in (evidence.roc_auc, evidence.accuracy) if t is not None]
    if any(t.worse(alpha) for t in tests):
        return "worse"
    if any(t.better(alpha) for t in tests):
        return "better"
    return "undecided"


@dataclass(frozen=True)
class LiveDecision:
    action: str  # promote | reject | wait
    reason: str


def live_decision(
    evidence: LiveEvidence | None,
    *,
    min_labels: int,
    confidence: float,
    waited_s: float,
    max_wait_s: float,
) -> LiveDecision:
    """Promote a challenger that the paired tests find better on at least ``min_labels``
    paired records (and worse on neither); reject one they find worse, or one still
    undecided after ``max_wait_s``; else wait for more labels."""
    n = evidence.n if evidence is not None else 0
    if evidence is not None and n >= min_labels:
        judged = verdict(evidence, 1 - confidence)
        if judged == "better":
            return LiveDecision("promote", f"better on live evidence: {describe(evidence)}")
        if judged == "worse":
            return LiveDecision("reject", f"worse on live evidence: {describe(evidence)}")
    if waited_s >= max_wait_s:
        text = describe(evidence) if evidence is not None else "no paired labels"
        return LiveDecision("reject", f"undecided after {waited_s / 3600:.1f} h: {text}")
    if evidence is None or n < min_labels:
        return LiveDecision("wait", f"{n} of {min_labels} paired labels")
    return LiveDecision("wait", f"undecided: {describe(evidence)}")


def describe(evidence: LiveEvidence) -> str:
    """One line: n, each test's difference, interval and p-value."""
    parts = [f"n={evidence.n} ({evidence.positives} positive)"]
    for test in (evidence.roc_auc, evidence.accuracy):
        if test is not None:
            parts.append(
                f"{test.statistic} {test.a:.3f}→{test.b:.3f} ({test.difference:+.3f}, "
                f"CI {test.ci_low:+.3f}..{test.ci_high:+.3f}, p={test.p_value:.3g})"
            )
    return "; ".join(parts)


def paired_windows(pairs: Iterable[Pair], window_ms: int, min_sample: int) -> int:
    """How many performance windows (by label time) hold at least ``min_sample`` pairs."""
    counts: dict[int, int] = {}
    for pair in pairs:
        start = pair.labeled_at - pair.labeled_at % window_ms
        counts[start] = counts.get(start, 0) + 1
    return sum(1 for n in counts.values() if n >= min_sample)


def canary_decision(
    evidence: LiveEvidence | None,
    *,
    windows_seen: int,
    windows: int,
    min_labels: int,
    confidence: float,
    waited_s: float,
    max_wait_s: float,
) -> LiveDecision:
    """The watch after a promotion, where the evidence's challenger is the previous champion,
    scored in shadow: roll back as soon as the paired tests find it better on at least
    ``min_labels`` records; confirm the new champion after ``windows`` windows of paired
    labels (or ``max_wait_s``) without that; else keep watching."""
    n = evidence.n if evidence is not None else 0
    text = describe(evidence) if evidence is not None else "no paired labels"
    if evidence is not None and n >= min_labels and verdict(evidence, 1 - confidence) == "better":
        return LiveDecision("rollback", f"the previous champion is better on live evidence: {text}")
    if windows_seen >= windows:
        span = f"{windows_seen} window{'' if windows_seen == 1 else 's'}"
        return LiveDecision("confirm", f"no significant loss over {span}: {text}")
    if waited_s >= max_wait_s:
        return LiveDecision("confirm", f"watch ended after {waited_s / 3600:.1f} h: {text}")
    return LiveDecision("wait", f"{windows_seen} of {windows} windows watched; {text}")
