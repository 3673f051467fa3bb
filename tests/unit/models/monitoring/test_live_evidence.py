from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from riskstream.models.monitoring.live_evidence import (
    LiveDecision,
    LiveEvidence,
    Pair,
    canary_decision,
    live_decision,
    live_evidence,
    pair_of,
    paired_windows,
    verdict,
)
from riskstream.schemas.events import LabeledExample


def _example(
    variant: str, risk: float, shadow_risk: float | None, label: int = 1
) -> LabeledExample:
    served = "2" if variant == "challenger" else "1"
    return LabeledExample(
        example_id="e",
        request_id="r",
        patient_ref="r",
        event_time=0,
        labeled_at=1,
        features={},
        label=label,
        risk=risk,
        predicted_label=int(risk >= 0.5),
        model_version=served,
        prediction_partition=0,
        prediction_offset=0,
        truth_partition=0,
        truth_offset=0,
        variant=variant,
        shadow_version=None if shadow_risk is None else ("1" if served == "2" else "2"),
        shadow_risk=shadow_risk,
        shadow_label=None if shadow_risk is None else int(shadow_risk >= 0.5),
    )


def test_a_pair_puts_the_champion_first_whichever_variant_served() -> None:
    by_champion = pair_of(_example("champion", 0.7, 0.2))
    by_challenger = pair_of(_example("challenger", 0.2, 0.7))
    expected = Pair(1, "1", 0.7, 1, "2", 0.2, 0, labeled_at=1)
    assert by_champion == expected and by_challenger == expected


def test_an_example_without_a_shadow_score_is_no_pair() -> None:
    assert pair_of(_example("champion", 0.7, None)) is None


def test_each_variants_metrics_are_sklearns_on_the_same_records() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    champion = np.clip(0.5 * y + rng.normal(0.25, 0.25, 400), 0, 1)
    challenger = np.clip(0.7 * y + rng.normal(0.15, 0.2, 400), 0, 1)
    pairs = [
        Pair(int(t), "1", float(a), int(a >= 0.5), "2", float(b), int(b >= 0.5))
        for t, a, b in zip(y, champion, challenger, strict=True)
    ]
    (evidence,) = live_evidence(pairs)
    assert (evidence.champion_version, evidence.challenger_version, evidence.n) == ("1", "2", 400)
    assert evidence.positives == int(y.sum())
    assert evidence.roc_auc is not None
    assert evidence.roc_auc.a == pytest.approx(roc_auc_score(y, champion))
    assert evidence.roc_auc.b == pytest.approx(roc_auc_score(y, challenger))
    assert evidence.champion_accuracy == pytest.approx(accuracy_score(y, champion >= 0.5))
    assert evidence.challenger_accuracy == pytest.approx(accuracy_score(y, challenger >= 0.5))
    assert evidence.accuracy.difference == pytest.approx(
        evidence.challenger_accuracy - evidence.champion_accuracy
    )
    assert evidence.roc_auc.better(0.05)  # the challenger separates the classes far better


def test_pairs_of_other_versions_are_judged_apart_and_one_class_gives_no_roc_auc() -> None:
    pairs = [Pair(1, "1", 0.6, 1, "2", 0.4, 0), Pair(1, "1", 0.7, 1, "2", 0.8, 1)]
    pairs += [Pair(0, "2", 0.3, 0, "3", 0.6, 1)] * 3
    first, second = live_evidence(pairs)
    assert (first.champion_version, first.challenger_version, first.n) == ("1", "2", 2)
    assert (second.champion_version, second.challenger_version, second.n) == ("2", "3", 3)
    assert first.roc_auc is None and second.roc_auc is None
    assert second.champion_accuracy == 1.0 and second.challenger_accuracy == 0.0


def test_the_verdict_is_worse_on_any_significant_loss_and_better_only_without_one() -> None:
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 600)
    good = np.clip(0.7 * y + rng.normal(0.15, 0.2, 600), 0, 1)
    poor = np.clip(0.2 * y + rng.normal(0.4, 0.3, 600), 0, 1)

    def pairs(a: np.ndarray, b: np.ndarray) -> list[Pair]:
        return [
            Pair(int(t), "1", float(x), int(x >= 0.5), "2", float(z), int(z >= 0.5))
            for t, x, z in zip(y, a, b, strict=True)
        ]

    (better,) = live_evidence(pairs(poor, good))
    (worse,) = live_evidence(pairs(good, poor))
    (same,) = live_evidence(pairs(good, good))
    assert verdict(better, 0.05) == "better"
    assert verdict(worse, 0.05) == "worse"
    assert verdict(same, 0.05) == "undecided"
    assert verdict(better, 1e-300) == "undecided"  # no test reaches an absurd confidence


def _pairs(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[Pair]:
    return [
        Pair(int(t), "1", float(x), int(x >= 0.5), "2", float(z), int(z >= 0.5))
        for t, x, z in zip(y, a, b, strict=True)
    ]


def _decide(evidence: LiveEvidence | None, waited_s: float = 60.0) -> LiveDecision:
    return live_decision(
        evidence, min_labels=200, confidence=0.95, waited_s=waited_s, max_wait_s=3600.0
    )


def test_a_challenger_is_promoted_only_on_enough_labels_that_show_it_better() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 600)
    poor = np.clip(0.2 * y + rng.normal(0.4, 0.3, 600), 0, 1)
    good = np.clip(0.7 * y + rng.normal(0.15, 0.2, 600), 0, 1)
    (early,) = live_evidence(_pairs(y[:150], poor[:150], good[:150]))
    assert verdict(early, 0.05) == "better"  # significant already, but too few labels
    waiting = _decide(early)
    assert waiting.action == "wait" and "150 of 200" in waiting.reason
    (enough,) = live_evidence(_pairs(y, poor, good))
    promoted = _decide(enough)
    assert promoted.action == "promote"
    assert "n=600" in promoted.reason and "roc_auc" in promoted.reason and "p=" in promoted.reason
    (backwards,) = live_evidence(_pairs(y, good, poor))
    assert _decide(backwards).action == "reject"


def test_an_undecided_challenger_waits_until_the_maximum_wait_then_is_rejected() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    same = np.clip(0.5 * y + rng.normal(0.25, 0.25, 400), 0, 1)
    (even,) = live_evidence(_pairs(y, same, same))
    assert _decide(even).action == "wait" and "undecided" in _decide(even).reason
    assert _decide(even, waited_s=3600.0).action == "reject"
    assert _decide(None).action == "wait"
    late = _decide(None, waited_s=7200.0)
    assert late.action == "reject" and "no paired labels" in late.reason


def _watch(evidence: LiveEvidence | None, windows_seen: int, waited_s: float = 60.0) -> str:
    return canary_decision(
        evidence,
        windows_seen=windows_seen,
        windows=3,
        min_labels=200,
        confidence=0.95,
        waited_s=waited_s,
        max_wait_s=3600.0,
    ).action


def test_the_watch_rolls_back_only_when_the_previous_champion_proves_better() -> None:
    """In a watch the evidence's challenger is the previous champion, in shadow."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    poor = np.clip(0.2 * y + rng.normal(0.4, 0.3, 600), 0, 1)
    good = np.clip(0.7 * y + rng.normal(0.15, 0.2, 600), 0, 1)
    (bad_promotion,) = live_evidence(_pairs(y, poor, good))
    (early,) = live_evidence(_pairs(y[:150], poor[:150], good[:150]))
    (good_promotion,) = live_evidence(_pairs(y, good, poor))
    assert _watch(bad_promotion, windows_seen=1) == "rollback"
    assert _watch(bad_promotion, windows_seen=5) == "rollback"  # the loss outweighs the time
    assert _watch(early, windows_seen=1) == "wait"  # significant, but too few labels
    assert _watch(good_promotion, windows_seen=2) == "wait"
    assert _watch(good_promotion, windows_seen=3) == "confirm"
    assert _watch(None, windows_seen=0) == "wait"
    assert _watch(None, windows_seen=0, waited_s=3600.0) == "confirm"


def test_a_window_counts_in_the_watch_once_it_holds_enough_pairs() -> None:
    def at(ms: int) -> Pair:
        return Pair(1, "1", 0.7, 1, "2", 0.2, 0, labeled_at=ms)

    pairs = [at(t) for t in (0, 999, 500)] + [at(1000), at(1999)] + [at(2000)] * 3
    assert paired_windows(pairs, window_ms=1000, min_sample=3) == 2
    assert paired_windows(pairs, window_ms=1000, min_sample=2) == 3
    assert paired_windows(pairs, window_ms=3000, min_sample=8) == 1
    assert paired_windows([], window_ms=1000, min_sample=1) == 0
