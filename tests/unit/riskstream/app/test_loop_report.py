"""How a closed-loop run is judged: each shape's steps, and the phases' accuracies."""

from __future__ import annotations

from typing import Any

import pytest

from riskstream.app.loop_report import (
    PHASE_STEPS,
    PHASES,
    LoopReport,
    count_phases,
    judge,
    recovery_phases,
)
from riskstream.schemas.events import LabeledExample, ModelVersionEvent, RetrainRequest
from tests.unit.schemas.samples import SAMPLES, drift_alert

EVIDENCE = {"live_n": 300.0, "live_accuracy_p_value": 0.001}


def _decision(status: str, version: str, metrics: dict[str, float] | None = None) -> Any:
    return ModelVersionEvent.from_avro(
        {
            **SAMPLES["ModelVersionEvent"],
            "status": status,
            "version": version,
            "metrics": EVIDENCE if metrics is None else metrics,
            "lineage": {},
        }
    )


def _bad_run(evidence: str, **changes: Any) -> LoopReport:
    report = LoopReport("1", scenario="bad-challenger", evidence=evidence, final_version="1")
    report.alerts.append(drift_alert(status="FIRING"))
    report.requests.append(("r", RetrainRequest.from_avro(SAMPLES["RetrainRequest"])))
    for name, value in changes.items():
        setattr(report, name, value)
    judge(report)
    return report


def test_a_bad_challenger_closes_only_when_rejected_and_never_promoted() -> None:
    rejected = [_decision("REJECTED", "2")]
    assert _bad_run("live", challenger="2", decisions=rejected).closed
    promoted = _bad_run("live", challenger="2", decisions=[_decision("PROMOTED", "2")])
    assert "the bad challenger, version 2, was promoted" in promoted.missing_steps
    assert "the bad challenger, version 2, was never rejected" in promoted.missing_steps
    silent = _bad_run("live", challenger="2", decisions=[_decision("REJECTED", "2", {})])
    assert silent.missing_steps == ["the decision carried no live evidence"]
    none = _bad_run("live")
    assert none.missing_steps == ["no retrained version was challenger"]


def test_a_bad_promotion_closes_only_when_rolled_back_and_the_old_champion_serves() -> None:
    rolled = [_decision("ROLLED_BACK", "1")]
    assert _bad_run("holdout", new_version="2", decisions=rolled).closed
    kept = _bad_run("holdout", new_version="2", decisions=[_decision("CONFIRMED", "2")])
    assert "the bad promotion of version 2 was never rolled back" in kept.missing_steps
    stuck = _bad_run("holdout", new_version="2", decisions=rolled, final_version="2")
    assert stuck.missing_steps == ["the scorer ended serving version 2, not the old champion 1"]


def test_a_live_recovery_needs_the_challenger_and_its_evidence() -> None:
    report = LoopReport("1", evidence="live", new_version="2", recovered_at=5.0)
    report.decisions.append(_decision("PROMOTED", "2", {}))
    judge(report)
    assert "the retrained version did not become the challenger" in report.missing_steps
    assert "the promotion carried no live evidence" in report.missing_steps
    rolled = LoopReport("1", new_version="2", recovered_at=5.0)
    rolled.decisions.append(_decision("ROLLED_BACK", "1"))
    judge(rolled)
    assert any(step.startswith("the canary rolled") for step in rolled.missing_steps)


def _example(index: int, served: str, predicted: int, shadow: tuple[str, int] | None) -> Any:
    return LabeledExample.from_avro(
        {
            **SAMPLES["LabeledExample"],
            "request_id": f"sim-x-{index}",
            "label": 1,
            "predicted_label": predicted,
            "model_version": served,
            "shadow_version": shadow[0] if shadow else None,
            "shadow_risk": 0.5 if shadow else None,
            "shadow_label": shadow[1] if shadow else None,
        }
    )


def test_phases_split_by_period_and_serving_version_and_shadow_scores_apart() -> None:
    examples = [
        _example(0, "1", 1, None),
        _example(1, "1", 0, None),
        _example(2, "1", 0, ("2", 1)),  # drift: 2 in shadow
        _example(3, "1", 1, ("2", 1)),  # the drift ended from record 3
        _example(4, "2", 0, ("1", 1)),  # a promoted 2 serves, 1 in shadow
    ]
    report = LoopReport("1", scenario="bad-challenger", new_version="2", drift_ended_at=3)
    count_phases(report, examples, "sim-x-", drift_index=2)
    acc = {name: (p.n, p.accuracy) for name, p in report.phases.items()}
    assert acc == {
        "before drift": (2, 0.5),
        "during drift": (1, 0.0),
        "after the drift, served by v1": (1, 1.0),
        "after the drift, served by v2": (1, 0.0),
    }
    assert {v: (p.n, p.accuracy) for v, p in report.shadow.items()} == {
        "v2": (2, 1.0),
        "v1": (1, 1.0),
    }
    recovery = LoopReport("1", new_version="2")
    count_phases(recovery, examples, "sim-x-", drift_index=2)
    assert recovery.phases["after recovery"].n == 1
    assert recovery.phases["during drift"].n == 2
    assert sum(p.n for p in recovery.phases.values()) == len(examples)
    assert recovery.phases["before drift"].accuracy == pytest.approx(0.5)


def test_recovery_phases_split_the_time_to_recovery_step_by_step() -> None:
    report = LoopReport(
        "1",
        drift_onset=100.0,
        alerted_at=121.5,
        requested_at=122.0,
        registered_at=124.25,
        promoted_at=124.75,
        recovered_at=124.9,
    )
    phases = recovery_phases(report)
    assert phases == {
        "detection": 21.5,
        "decision": 0.5,
        "training": 2.25,
        "promotion": 0.5,
        "swap": 0.15,
        "after alert": 3.4,
        "total": 24.9,
    }
    steps = [phases[name] for name, _, _ in PHASES]
    assert sum(s for s in steps if s is not None) == pytest.approx(phases["total"])
    assert set(PHASE_STEPS) == set(phases)


def test_a_step_that_did_not_happen_has_no_phase() -> None:
    report = LoopReport("1", drift_onset=100.0, alerted_at=120.0, requested_at=121.0)
    phases = recovery_phases(report)
    assert phases["detection"] == 20.0 and phases["decision"] == 1.0
    assert phases["training"] is None and phases["swap"] is None and phases["total"] is None


def test_every_promoted_version_counts_after_recovery() -> None:
    """A background search may promote another version after the refit's: its predictions
    are the recovery's too, not the drift's."""
    examples = [_example(0, "1", 1, None), _example(1, "2", 1, None), _example(2, "3", 0, None)]
    report = LoopReport("1", new_version="2", promoted=["2", "3"])
    count_phases(report, examples, "sim-x-", drift_index=1)
    assert report.phases["after recovery"].n == 2
    assert report.phases["during drift"].n == 0
