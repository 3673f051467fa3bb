"""How a closed-loop run is judged: each shape's steps, and the phases' accuracies."""

from __future__ import annotations

from typing import Any

import pytest

from riskstream.loop_report import LoopReport, count_phases, judge
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
