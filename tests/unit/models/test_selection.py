import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from riskstream.models.selection import (
    CandidateScore,
    Gates,
    choose_threshold,
    decide_promotion,
    evaluate,
    select_candidate,
)


def test_evaluate_against_hand_counts() -> None:
    y = np.array([1, 1, 0, 0, 1])
    risk = np.array([0.9, 0.4, 0.2, 0.6, 0.7])
    m = evaluate(y, risk, 0.5)
    # predicted 1,0,0,1,1 → TP=2, FN=1, FP=1, TN=1
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["errors"] == 2
    assert m["brier"] == pytest.approx(np.mean((risk - y) ** 2))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, risk))


def test_evaluate_with_one_class_gives_nan_auc() -> None:
    assert np.isnan(evaluate(np.array([1, 1]), np.array([0.3, 0.8]), 0.5)["roc_auc"])


def test_threshold_maximises_accuracy_and_breaks_ties_towards_half() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    risk = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert choose_threshold(y, risk) == 0.5  # every t in (0.3, 0.7] is perfect
    shifted = np.array([0.1, 0.2, 0.3, 0.32, 0.35, 0.4])
    assert 0.3 < choose_threshold(y, shifted) <= 0.32


def test_gates_report_every_miss_and_treat_nan_as_a_miss() -> None:
    gates = Gates()
    assert gates.failures({"accuracy": 0.8, "roc_auc": 0.85, "f1": 0.7}) == []
    failed = gates.failures({"accuracy": 0.7, "roc_auc": float("nan"), "f1": 0.7})
    assert [f.split()[0] for f in failed] == ["accuracy", "roc_auc"]


def test_one_se_rule_prefers_the_simpler_model_within_noise() -> None:
    scores = [CandidateScore("logistic", 1, 0.815, 0.03), CandidateScore("forest", 4, 0.822, 0.035)]
    assert select_candidate(scores, "one_se").name == "logistic"
    assert select_candidate(scores, "best").name == "forest"
    clear = [CandidateScore("logistic", 1, 0.70, 0.01), CandidateScore("forest", 4, 0.82, 0.01)]
    assert select_candidate(clear, "one_se").name == "forest"
    with pytest.raises(ValueError):
        select_candidate(scores, "vibes")


def test_promotion_needs_gates_and_a_margin() -> None:
    gates = Gates()
    good = {"accuracy": 0.8, "roc_auc": 0.86, "f1": 0.7}
    assert decide_promotion(good, None, gates).promote
    assert decide_promotion(good, {**good, "roc_auc": 0.85}, gates, margin=0.005).promote
    assert not decide_promotion(good, {**good, "roc_auc": 0.858}, gates, margin=0.005).promote
    bad = {**good, "f1": 0.5}
    decision = decide_promotion(bad, None, gates)
    assert not decision.promote and "f1" in decision.reason
    assert decide_promotion(
        {**good, "brier": 0.10}, {**good, "brier": 0.2}, gates, metric="brier"
    ).promote


def test_promotion_routes_by_evidence_and_by_who_decides() -> None:
    from riskstream.models.selection import promotion_route

    routes = {
        (passes, evidence, promotion): promotion_route(passes, evidence, promotion)
        for passes in (True, False)
        for evidence in ("holdout", "live")
        for promotion in ("auto", "manual")
    }
    assert routes == {
        (True, "holdout", "auto"): "promote",
        (True, "live", "auto"): "challenge",
        (True, "holdout", "manual"): "await_approval",
        (True, "live", "manual"): "await_approval",
        (False, "holdout", "auto"): "challenge",
        (False, "holdout", "manual"): "challenge",
        (False, "live", "auto"): "reject",
        (False, "live", "manual"): "reject",
    }


@pytest.mark.parametrize("seed", range(6))
def test_evaluate_equals_sklearns_metrics_on_any_labels_and_scores(seed: int) -> None:
    """Counted by hand from the confusion counts, each metric is sklearn's (with
    zero_division=0), also where no record is predicted or labeled positive."""
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    y = (rng.random(n) < [0.5, 0.05, 0.0, 1.0, 0.3, 0.5][seed]).astype(int)
    risk = rng.random(n) * [1.0, 1.0, 1.0, 1.0, 0.4, 1.0][seed]  # seed 4: none predicted
    predicted = (risk >= 0.5).astype(int)
    m = evaluate(y, risk, 0.5)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, predicted), abs=1e-12)
    assert m["precision"] == pytest.approx(precision_score(y, predicted, zero_division=0))
    assert m["recall"] == pytest.approx(recall_score(y, predicted, zero_division=0))
    assert m["f1"] == pytest.approx(f1_score(y, predicted, zero_division=0), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, risk), abs=1e-12)
    assert m["errors"] == (predicted != y).sum() and m["n"] == n


def test_sampling_errors_match_a_plain_bootstrap_and_resampled_auc_counts_ties_half() -> None:
    from riskstream.models.selection import _resampled_auc, sampling_errors

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    risk = np.round(np.clip(0.4 * y + rng.normal(0.3, 0.25, 300), 0, 1), 1)  # many ties
    se = sampling_errors(y, risk, 0.5, resamples=400)
    plain: dict[str, list[float]] = {"accuracy": [], "roc_auc": [], "f1": []}
    for _ in range(400):
        rows = rng.integers(0, 300, 300)
        metrics = evaluate(y[rows], risk[rows], 0.5)
        for name, values in plain.items():
            values.append(metrics[name])
    for name, values in plain.items():
        assert se[f"{name}_se"] == pytest.approx(np.std(values, ddof=1), rel=0.2), name
    counts = rng.integers(0, 3, size=(5, 300))  # any weights, not only bootstrap draws
    for row, auc in zip(counts, _resampled_auc(counts, y == 1, risk), strict=True):
        rows = np.repeat(np.arange(300), row)
        assert auc == pytest.approx(roc_auc_score(y[rows], risk[rows]))
    assert sampling_errors(y, risk, 0.5) == sampling_errors(y, risk, 0.5)  # pure: seeded


def test_a_gate_missed_within_noise_stops_no_candidate_better_than_its_champion() -> None:
    gates = Gates()
    noise = {"accuracy_se": 0.03, "roc_auc_se": 0.03, "f1_se": 0.04}
    candidate = {"accuracy": 0.78, "roc_auc": 0.85, "f1": 0.60, **noise}  # F1 1.25 SE short
    champion = {"accuracy": 0.70, "roc_auc": 0.76, "f1": 0.55}
    excuse = gates.missed_within_noise(candidate, champion)
    assert excuse is not None and "f1 0.600 < 0.65 (± 0.078)" in excuse
    decision = decide_promotion(candidate, champion, gates)
    assert decision.promote and decision.reason.startswith("misses the quality gates only")
    assert "roc_auc 0.8500 beats the champion's 0.7600" in decision.reason
    # and each condition of the excuse, taken away, stops the candidate again
    stopped = [
        (candidate, None),  # no champion: the floors are the only judge
        ({**candidate, "f1_se": 0.02}, champion),  # 2.5 SE short: the holdout tells
        ({k: v for k, v in candidate.items() if k != "f1_se"}, champion),  # no error known
        (candidate, {**champion, "f1": 0.68}),  # the champion is better on F1 beyond noise
        (candidate, {**champion, "accuracy": 0.85}),  # ... or on a gate the candidate passes
        (
            {k: v for k, v in candidate.items() if k != "accuracy_se"},
            {**champion, "accuracy": 0.79},
        ),
    ]
    for cand, champ in stopped:
        assert gates.missed_within_noise(cand, champ) is None
        assert not decide_promotion(cand, champ, gates).promote
    # a champion ahead within the candidate's error is noise: the demo's once, F1 0.656
    # against 0.645 with an error of 0.03, the candidate ahead on accuracy and ROC-AUC
    demo = {"accuracy": 0.77, "roc_auc": 0.86, "f1": 0.645, **noise, "f1_se": 0.03}
    ahead = {"accuracy": 0.74, "roc_auc": 0.81, "f1": 0.656}
    assert gates.missed_within_noise(demo, ahead) is not None
    assert decide_promotion(demo, ahead, gates).promote
    assert gates.missed_within_noise(demo, {**ahead, "f1": 0.645 + 0.06}) is None  # 2 errors
    # excused, it must lead on ROC-AUC by one of its errors (0.03), not only the margin
    narrow = decide_promotion(demo, {**ahead, "roc_auc": 0.84}, gates)
    assert not narrow.promote and "by 0.03" in narrow.reason, narrow.reason
    assert decide_promotion({**demo, "f1": 0.66}, {**ahead, "roc_auc": 0.84}, gates).promote
    # excused, but not better on the promotion metric by the margin: not promoted
    close = decide_promotion(candidate, {**champion, "roc_auc": 0.848}, gates)
    assert not close.promote and "does not beat" in close.reason
    noise_model = {"accuracy": 0.51, "roc_auc": 0.52, "f1": 0.50, **noise}
    assert not decide_promotion(
        noise_model, {"accuracy": 0.5, "roc_auc": 0.5, "f1": 0.5}, gates
    ).promote
