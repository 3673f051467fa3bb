import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from riskstream.models import data
from riskstream.models.online import (
    KIND,
    OnlineLearner,
    ProgressiveScore,
    has_learned_any,
    histogram_auc,
    offsets_text,
    parse_offsets,
)
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.patient_record import RAW_FEATURES


def _hist(scores: np.ndarray, bins: int = 200) -> np.ndarray:
    return np.bincount(np.minimum((scores * bins).astype(int), bins - 1), minlength=bins)


def test_histogram_auc_matches_the_exact_auc_to_the_bin_width() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.35
    scores = np.clip(rng.normal(0.4 + 0.2 * y, 0.15), 0, 1)
    got = histogram_auc(_hist(scores[y]), _hist(scores[~y]))
    assert got == pytest.approx(roc_auc_score(y, scores), abs=0.005)


def test_histogram_auc_at_the_extremes() -> None:
    low, high = _hist(np.full(10, 0.1)), _hist(np.full(10, 0.9))
    assert histogram_auc(high, low) == 1.0
    assert histogram_auc(low, high) == 0.0
    assert histogram_auc(low, low) == 0.5  # all tied
    assert np.isnan(histogram_auc(low, np.zeros(200)))


def test_progressive_score_counts_and_survives_its_state() -> None:
    score = ProgressiveScore()
    score.add(np.array([0.9, 0.2, 0.7, 0.4]), np.array([1, 0, 0, 1]), 0.5, np.array([1, 1, 0, 1]))
    m = score.metrics()
    assert m["progressive_examples"] == 4
    assert m["progressive_accuracy"] == 0.5
    assert m["champion_progressive_accuracy"] == 0.75
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.3, 0.4]))
    assert m["progressive_log_loss"] == pytest.approx(expected_loss)
    assert m["progressive_roc_auc"] == 0.75  # (0.9 > 0.2, 0.9 > 0.7, 0.4 > 0.2) of four pairs
    assert ProgressiveScore.from_state(score.state()).metrics() == m


@pytest.fixture(scope="module")
def learner() -> OnlineLearner:
    raw, y = data.load(data.TRAIN_FILE)
    return OnlineLearner.bootstrap(raw, y, lr=0.05, l2=0.0)


def _stream(scenario: Scenario, n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    sim = Simulator(PimaModel.fit(), scenario, seed=seed, baseline_missing=0.0)
    items = list(sim.stream(n, 0))
    raw = pd.DataFrame([{f: getattr(s.record, f) for f in RAW_FEATURES} for s in items])
    return raw.astype(float), np.array([s.outcome for s in items])


def test_each_row_is_predicted_before_it_is_learned(learner: OnlineLearner) -> None:
    fresh = OnlineLearner.resume(learner.snapshot())
    raw, y = _stream(Scenario(), 50, seed=1)
    before = fresh.model.predict_frame(raw.iloc[:1])[1][0]
    risk = fresh.learn(raw, y, champion=y)
    assert risk[0] == pytest.approx(before)
    assert fresh.model.predict_frame(raw.iloc[:1])[1][0] != pytest.approx(before)
    assert fresh.score.examples == 50


def test_it_learns_a_new_concept_that_a_frozen_copy_keeps_getting_wrong(
    learner: OnlineLearner,
) -> None:
    online = OnlineLearner.resume(learner.snapshot())
    frozen = learner.snapshot()
    raw, y = _stream(Scenario.named("concept-drift", start=0), 6000, seed=2)
    online.learn(raw.iloc[:4000], y[:4000], champion=y[:4000])
    late_raw, late_y = raw.iloc[4000:], y[4000:]
    _, online_risk = online.model.predict_frame(late_raw)
    _, frozen_risk = frozen.predict_frame(late_raw)
    assert roc_auc_score(late_y, online_risk) > roc_auc_score(late_y, frozen_risk) + 0.05


def test_a_snapshot_is_a_copy_with_its_metrics_and_recent_reference(
    learner: OnlineLearner,
) -> None:
    online = OnlineLearner.resume(learner.snapshot())
    raw, y = _stream(Scenario(), 400, seed=3)
    online.learn(raw, y, champion=np.zeros(400, dtype=int))
    snap = online.snapshot()
    assert snap.kind == KIND
    assert snap.metrics["progressive_examples"] == 400
    assert snap.metrics["champion_progressive_accuracy"] == pytest.approx(1 - y.mean())
    assert snap.reference["source"] == "recent"
    probe = raw.iloc[:5]
    kept = snap.predict_frame(probe)[1]
    online.learn(raw, y, champion=y)
    assert np.array_equal(snap.predict_frame(probe)[1], kept)  # learning on left it alone
    resumed = OnlineLearner.resume(snap)
    assert resumed.score.examples == 400


def test_offsets_round_trip_and_say_which_examples_a_snapshot_learned() -> None:
    offsets = {0: 120, 2: 7}
    assert parse_offsets(offsets_text(offsets)) == offsets
    assert parse_offsets("") == {}
    assert has_learned_any(offsets, [(0, 119)])  # offset 119 is below the next to learn
    assert not has_learned_any(offsets, [(0, 120), (2, 7), (1, 0)])  # partition 1: none
