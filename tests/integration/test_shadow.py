"""Champion and challenger, against the real broker, Redis and MLflow (#15): every record's
shadow prediction survives a SIGKILL exactly once, the A/B split serves a stable set of
patients, labels join with both versions' scores, and the referee promotes a better
challenger and rejects a worse one on that live evidence, as the scorer follows."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from sklearn.metrics import accuracy_score, roc_auc_score

from riskstream.core.settings import Settings
from riskstream.core.topics import (
    GROUND_TRUTH,
    LABELED_EXAMPLES,
    MODEL_VERSIONS,
    PATIENT_RECORDS,
    PREDICTIONS,
    SHADOW_PREDICTIONS,
)
from riskstream.io.kafka.clients import codec_for
from riskstream.models.bootstrap import bootstrap
from riskstream.models.monitoring.live_evidence import live_evidence, pair_of
from riskstream.models.monitoring.variants import serving_variant
from riskstream.models.registry import CHALLENGER, CHAMPION, EVIDENCE_TAG, PREVIOUS, Registry
from riskstream.schemas.events import LabeledExample, ModelVersionEvent
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.referee import LiveReferee
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import (
    decoded,
    deployment_with_champion,
    drain_committed,
    process_env,
)
from tests.integration.test_scorer import _wait_for_some_predictions
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import eventually

pytestmark = pytest.mark.integration
PATIENTS = 400


def _with_challenger(settings: Settings, seed: int = 0) -> tuple[str, str]:
    """(champion, challenger): a second version registered and given the challenger alias;
    with another ``seed`` and the best CV candidate, a model that scores differently."""
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    trained = settings.model_copy(update={"selection_rule": "best"}) if seed else settings
    challenger = bootstrap(trained, seed=seed).version
    assert champion and challenger != champion
    registry.set_alias(CHAMPION, champion)  # whatever the bootstrap's gates decided
    registry.challenge(challenger)
    return champion, challenger


def _produce(settings: Settings, topic: str, schema: str, events: list[dict[str, Any]]) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 5}))
    for event in events:
        producer.produce(
            settings.topic(topic),
            key=event["patient_id"].encode(),
            value=codec.encode(schema, event),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def _send(settings: Settings, first: int, count: int) -> None:
    records = [
        {
            **SAMPLES["PatientRecord"],
            "request_id": f"req-{i}",
            "patient_id": f"p-{i % PATIENTS}",
            "glucose": 80.0 + (i % 120),
            "age": 21 + (i % 50),
        }
        for i in range(first, first + count)
    ]
    _produce(settings, PATIENT_RECORDS.name, "PatientRecord", records)


def _send_outcomes(settings: Settings, outcomes: dict[int, int]) -> None:
    """The ground truth of records ``i``: ``outcomes[i]``."""
    truths = [
        {
            **SAMPLES["GroundTruth"],
            "label_id": f"l-{i}",
            "request_id": f"req-{i}",
            "patient_id": f"p-{i % PATIENTS}",
            "outcome": outcome,
        }
        for i, outcome in outcomes.items()
    ]
    _produce(settings, GROUND_TRUTH.name, "GroundTruth", truths)


def _label_like(
    settings: Settings, version: str, first: int, count: int, shadows: int | None = None
) -> None:
    """Ground truth equal to ``version``'s own predicted labels for records ``first`` ..
    ``first + count``: that version is right on every record, the other one is not.
    ``shadows``: how many shadow predictions exist by then (all records', by default)."""
    served = drain_committed(settings, PREDICTIONS.name, "Prediction", first + count, 120)
    expected = first + count if shadows is None else shadows
    shadow = drain_committed(settings, SHADOW_PREDICTIONS.name, "Prediction", expected, 60)
    wanted = {f"req-{i}" for i in range(first, first + count)}
    truth = {
        p["request_id"]: int(p["label"])
        for p in [*served, *shadow]
        if p["model_version"] == version and p["request_id"] in wanted
    }
    assert len(truth) == count, f"{len(truth)} of {count} records scored by version {version}"
    _send_outcomes(settings, {int(r.removeprefix("req-")): y for r, y in truth.items()})


def test_live_evidence_promotes_a_better_challenger_and_rejects_a_worse_one(
    stack: Settings, tmp_path: Path
) -> None:
    """RISKSTREAM_PROMOTION_EVIDENCE=live: the referee waits for 200 paired labels, promotes
    the challenger that is right where the champion is not, and later rejects a challenger
    that is wrong where the champion is right; each decision carries its evidence."""
    settings = deployment_with_champion(
        stack, "shl", tmp_path, promotion_evidence="live", live_min_labels=200
    )
    champion, challenger = _with_challenger(settings, seed=5)
    registry = Registry(settings)
    scorer, joiner = Scorer(settings), Joiner(settings)
    referee = LiveReferee(settings)
    stop, threads = _running(scorer, joiner)
    try:
        eventually(
            lambda: scorer.models.challenger is not None, 60, "the challenger was not loaded"
        )
        _paired_labels(settings, joiner, challenger, 0, 100, shadows=100)
        assert referee.judge() is None  # 100 of 200 paired labels: it waits
        _paired_labels(settings, joiner, challenger, 100, 300, shadows=400)
        _assert_promoted(referee.judge(), registry, champion, challenger)
        _assert_the_promotion_is_watched(settings, scorer, registry, champion, challenger)

        # the old champion challenges again (the CLI: alias, stamp and CHALLENGER event), and
        # is wrong where the new one is right
        refused = _cli(settings, "model", "challenge", challenger)
        assert refused.returncode == 1 and "cannot challenge itself" in refused.stderr
        done = _cli(settings, "model", "challenge", champion)
        assert done.returncode == 0, done.stderr
        eventually(
            lambda: getattr(scorer.models.challenger, "version", None) == champion,
            60,
            "the second challenger was not loaded",
        )
        _paired_labels(settings, joiner, challenger, 450, 300, shadows=700)
        rejected = referee.judge()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert rejected is not None and rejected.status == "REJECTED", rejected
    assert rejected.version == champion and rejected.metrics["live_n"] == 300
    assert "worse on live evidence" in rejected.reason
    assert registry.alias_version(CHAMPION) == challenger  # the promoted version stays
    assert registry.alias_version(CHALLENGER) is None
    events = list(
        decoded(settings, settings.topic(MODEL_VERSIONS.name), "ModelVersionEvent", "beginning")
    )
    assert [e["status"] for e in events][-3:] == ["PROMOTED", "CHALLENGER", "REJECTED"]


def _paired_labels(
    settings: Settings, joiner: Joiner, version: str, first: int, count: int, shadows: int
) -> None:
    """Records ``first`` .. ``first + count`` scored by both variants, then labeled as
    ``version`` predicted them, and joined with both scores (``shadows`` cached by then)."""
    _send(settings, first, count)
    eventually(lambda: joiner.stats.shadows_cached >= shadows, 60, "shadows not cached")
    _label_like(settings, version, first, count, shadows=shadows)
    eventually(
        lambda: joiner.stats.joined_with_shadow == shadows,
        60,
        f"{count} labels did not join with their shadow scores",
    )


def _assert_promoted(
    promoted: ModelVersionEvent | None, registry: Registry, champion: str, challenger: str
) -> None:
    assert promoted is not None and promoted.status == "PROMOTED", promoted
    assert (promoted.version, promoted.previous_version) == (challenger, champion)
    assert promoted.metrics["live_n"] == 400
    assert promoted.metrics["live_accuracy_challenger"] == 1.0
    assert promoted.metrics["live_accuracy_p_value"] < 0.05
    assert registry.alias_version(CHAMPION) == challenger
    assert registry.alias_version(CHALLENGER) is None
    assert "better on live evidence" in registry.get(challenger).tags[EVIDENCE_TAG]


def _assert_the_promotion_is_watched(
    settings: Settings, scorer: Scorer, registry: Registry, champion: str, challenger: str
) -> None:
    """The scorer swaps to the new champion, and scores the old one in shadow: it never
    serves again."""
    eventually(lambda: scorer.models.current.version == challenger, 60, "no swap on the promotion")
    assert registry.alias_version(PREVIOUS) == champion
    eventually(
        lambda: getattr(scorer.models.challenger, "version", None) == champion,
        60,
        "the previous champion was not scored in shadow",
    )
    assert scorer.models.shadow()[1] is False  # it may not serve a split's share
    _send(settings, 400, 50)
    eventually(lambda: scorer.stats.predictions == 450, 60, "50 records were not scored")
    assert scorer.stats.shadow_predictions == 450
    assert scorer.stats.served_by == {champion: 400, challenger: 50}


def _outcome(i: int) -> int:
    """Diabetes more likely with glucose, not decided by it: both variants err sometimes."""
    return int(80.0 + (i % 120) + (i * 37 % 60) - 30 > 150)


def _send_labels(settings: Settings, first: int, count: int) -> None:
    _send_outcomes(settings, {i: _outcome(i) for i in range(first, first + count)})


def _running(*workers: Any) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    return stop, threads


def test_labels_join_with_both_variants_scores_and_the_live_evidence_is_sklearns(
    stack: Settings, tmp_path: Path
) -> None:
    """With a challenger and a 0.3 split, every labeled example carries the served and the
    shadow score of its record; each variant's ROC-AUC and accuracy from those pairs equal
    sklearn's on the predictions and labels as published."""
    total = 800
    settings = deployment_with_champion(stack, "shj", tmp_path, split=0.3)
    champion, challenger = _with_challenger(settings, seed=5)
    joiner = Joiner(settings)
    stop, threads = _running(Scorer(settings), joiner)
    try:
        _send(settings, 0, total)
        served = drain_committed(settings, PREDICTIONS.name, "Prediction", total, timeout=120)
        shadow = drain_committed(settings, SHADOW_PREDICTIONS.name, "Prediction", total, 60)
        eventually(lambda: joiner.stats.shadows_cached >= total, 60, "the joiner cached no shadows")
        _send_labels(settings, 0, total)
        examples = drain_committed(settings, LABELED_EXAMPLES.name, "LabeledExample", total, 120)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert len(examples) == total == len({e["request_id"] for e in examples})
    pairs = [pair_of(LabeledExample.from_avro(e)) for e in examples]
    assert all(pair is not None for pair in pairs), "an example came without its shadow score"
    (evidence,) = live_evidence(p for p in pairs if p is not None)
    assert (evidence.champion_version, evidence.challenger_version) == (champion, challenger)
    assert evidence.n == total
    roc = evidence.roc_auc
    assert roc is not None, "both classes should be among the labels"
    _assert_each_variants_metrics_are_sklearns(
        {
            champion: (roc.a, evidence.champion_accuracy),
            challenger: (roc.b, evidence.challenger_accuracy),
        },
        [*served, *shadow],
        total,
    )
    shown = _cli(settings, "model", "evidence")
    assert shown.returncode == 0, shown.stderr
    assert f"{total} labeled examples read, {total} with both variants' scores" in shown.stdout
    assert (
        f"{champion} → {challenger}" in shown.stdout
        and f"{roc.a:.3f} → {roc.b:.3f}" in shown.stdout
    )
    served_by_challenger = sum(e["variant"] == "challenger" for e in examples)
    assert 0 < served_by_challenger < total  # the split served some of both
    print(
        f"{total} labels joined with both scores; champion {champion} ROC-AUC "
        f"{roc.a:.3f} acc {evidence.champion_accuracy:.3f}, challenger "
        f"{challenger} ROC-AUC {roc.b:.3f} acc {evidence.challenger_accuracy:.3f}; "
        f"DeLong p={roc.p_value:.3f}, McNemar p={evidence.accuracy.p_value:.3f}"
    )


def _assert_each_variants_metrics_are_sklearns(
    measured: dict[str, tuple[float, float]], predictions: list[dict[str, Any]], total: int
) -> None:
    """Each version's (ROC-AUC, accuracy) from the live evidence equal sklearn's on what the
    scorer published (served and shadow) and the labels sent."""
    outcome = {f"req-{i}": _outcome(i) for i in range(total)}
    by_version: dict[str, dict[str, Any]] = {version: {} for version in measured}
    for p in predictions:
        by_version[p["model_version"]][p["request_id"]] = p
    ids = sorted(outcome)
    y = np.array([outcome[r] for r in ids])
    first, second = measured
    gaps = [abs(by_version[first][r]["risk"] - by_version[second][r]["risk"]) for r in ids]
    assert max(gaps) > 0.01, "the two versions score alike: the test could not tell them apart"
    for version, (auc, accuracy) in measured.items():
        risk = np.array([by_version[version][r]["risk"] for r in ids])
        label = np.array([by_version[version][r]["label"] for r in ids])
        assert auc == pytest.approx(roc_auc_score(y, risk))
        assert accuracy == pytest.approx(accuracy_score(y, label))


def test_after_a_sigkill_every_record_has_one_served_and_one_shadow_prediction(
    stack: Settings, tmp_path: Path
) -> None:
    """A scorer with a challenger and RISKSTREAM_SPLIT=0.3 is SIGKILLed mid-stream and
    restarted: 3,000 records, 3,000 predictions and 3,000 shadow predictions, one of each per
    record, each patient served by one variant throughout, as the split's hash says."""
    settings = deployment_with_champion(stack, "shk", tmp_path)
    champion, challenger = _with_challenger(settings)
    total, split = 3000, 0.3
    _send(settings, 0, total)
    env = process_env(settings, RISKSTREAM_SPLIT=str(split))
    argv = [sys.executable, "-m", "riskstream.app.cli.main", "run", "scorer", "--batch-size", "100"]
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = _wait_for_some_predictions(settings, minimum=300, timeout=120)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert seen < total, "the scorer finished before it could be killed mid-stream"
    second = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        served = drain_committed(settings, PREDICTIONS.name, "Prediction", total, timeout=120)
        shadow = drain_committed(settings, SHADOW_PREDICTIONS.name, "Prediction", total, 60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    for name, events in (("predictions", served), ("shadow predictions", shadow)):
        ids = [e["request_id"] for e in events]
        assert len(set(ids)) == total, f"{len(set(ids))} distinct {name} of {total} records"
        assert len(ids) == total, f"{len(ids) - len(set(ids))} duplicate {name}"
    assert not any(e["shadow"] for e in served) and all(e["shadow"] for e in shadow)
    twin = {e["request_id"]: e for e in shadow}
    by_patient: dict[str, set[str]] = defaultdict(set)
    for e in served:
        expected = serving_variant(e["patient_ref"], split)
        version = challenger if expected == "challenger" else champion
        assert (e["variant"], e["model_version"]) == (expected, version), e["request_id"]
        other = twin[e["request_id"]]
        assert other["variant"] != e["variant"] and other["model_version"] != version
        by_patient[e["patient_ref"]].add(e["variant"])
    assert all(len(variants) == 1 for variants in by_patient.values())
    on_challenger = sum("challenger" in v for v in by_patient.values()) / len(by_patient)
    # 400 patients: the binomial sd of the share is 0.023
    assert abs(on_challenger - split) < 0.1, f"challenger serves {on_challenger:.2f} of patients"
    print(
        f"SIGKILL after {seen} predictions: {total} records, {len(served)} served and "
        f"{len(shadow)} shadow predictions; challenger serves {on_challenger:.3f} of patients"
    )


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskstream.app.cli.main", *args],
        env=process_env(settings, COLUMNS="250"),
        capture_output=True,
        text=True,
        timeout=180,
    )
