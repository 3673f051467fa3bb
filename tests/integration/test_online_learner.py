"""The online learner against the real broker and MLflow store: it learns as labeled
examples arrive, registers snapshots with their lineage, and a SIGKILL between snapshots
loses and repeats nothing in the lineage of the next."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import publish_retrain_request
from riskstream.models.online import KIND, OFFSETS_TAG, parse_offsets
from riskstream.models.registry import ONLINE, Registry
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import LabeledExample
from riskstream.schemas.patient_record import RAW_FEATURES
from riskstream.stream_processors.online_learner import Learner
from riskstream.stream_processors.trainer import Trainer
from tests.integration.conftest import deployment_with_champion, process_env
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def _publish_examples(settings: Settings, count: int, seed: int, scenario: Scenario) -> None:
    """``count`` labeled examples of simulated patients; the serving champion's prediction
    on each is a glucose rule, as a stand-in for the model that scored it."""
    run = uuid.uuid4().hex[:6]
    sim = Simulator(PimaModel.fit(), scenario, seed=seed, rate=10_000, run=run)
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 5}))
    for item in sim.stream(count, int(time.time() * 1000)):
        record = item.record
        features = {n: float(v) for n in RAW_FEATURES if (v := getattr(record, n)) is not None}
        example = LabeledExample(
            example_id=uuid.uuid4().hex,
            request_id=record.request_id,
            patient_ref=record.patient_id,  # a stand-in: the learner never reads it
            event_time=record.event_time,
            labeled_at=record.event_time + 1000,
            features=features,
            label=item.outcome,
            risk=0.5,
            predicted_label=int((record.glucose or 0) > 140),
            model_version="1",
            prediction_partition=0,
            prediction_offset=0,
            truth_partition=0,
            truth_offset=0,
        )
        producer.produce(
            settings.topic(LABELED_EXAMPLES.name),
            key=example.patient_ref.encode(),
            value=codec.encode_event(example),
        )
    assert producer.flush(30) == 0


def _snapshots(settings: Settings) -> list[tuple[int, dict[str, float], dict[str, str]]]:
    registry = Registry(settings)
    return [
        (int(v.version), v.metrics, v.tags)
        for v in registry.versions()
        if v.tags.get("riskstream.candidate") == KIND
    ]


def _learn(settings: Settings, count: int) -> Learner:
    """Run a learner in this process until it has learned ``count`` examples, then stop it
    (which registers a snapshot)."""
    learner = Learner(settings)
    stop = threading.Event()
    thread = threading.Thread(target=learner.run, args=(stop,), daemon=True)
    thread.start()
    eventually(
        lambda: learner.learner and learner.learner.score.examples >= count, 90, f"{count} learned"
    )
    time.sleep(2)  # any example learned twice would arrive meanwhile
    stop.set()
    thread.join(60)
    assert not thread.is_alive()
    return learner


def test_it_learns_as_examples_arrive_and_registers_snapshots_with_lineage(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(
        stack, "learn", tmp_path, partitions=3, learner_snapshot_examples=400
    )
    learner = Learner(settings)
    stop = threading.Event()
    thread = threading.Thread(target=learner.run, args=(stop,), daemon=True)
    thread.start()
    _publish_examples(settings, 1000, seed=1, scenario=Scenario())
    eventually(
        lambda: learner.learner and learner.learner.score.examples == 1000, 60, "1000 learned"
    )
    stop.set()
    thread.join(60)
    assert not thread.is_alive()

    snapshots = _snapshots(settings)
    counts = [m["progressive_examples"] for _, m, _ in snapshots]
    # one after each batch (of up to 500) that brings 400 or more since the last snapshot
    assert counts[-1] == 1000 and len(counts) >= 2, counts
    assert counts == sorted(set(counts))
    accuracies = {round(m["progressive_accuracy"], 6) for _, m, _ in snapshots}
    assert len(accuracies) > 1  # the metrics move as examples arrive
    assert all(0.6 < m["progressive_accuracy"] < 0.95 for _, m, _ in snapshots)
    last_version, _, tags = snapshots[-1]
    assert Registry(settings).alias_version(ONLINE) == str(last_version)
    assert sum(parse_offsets(tags[OFFSETS_TAG]).values()) == 1000  # no transactions: dense
    assert settings.topic(LABELED_EXAMPLES.name) in tags["riskstream.data_lineage"]
    samples = learner.metrics.registry.get_sample_value(
        "riskstream_online_progressive", {"metric": "progressive_examples"}
    )
    assert samples == 1000


def test_a_learner_killed_between_snapshots_learns_each_example_once_in_their_lineage(
    stack: Settings, tmp_path: Path
) -> None:
    """Snapshots are the learner's only checkpoint: after a SIGKILL it resumes from the newest
    and learns what followed again, so the next snapshot has learned every example once."""
    every, first_count, total = 3000, 12_000, 12_500
    settings = deployment_with_champion(
        stack, "lkill", tmp_path, partitions=3, learner_snapshot_examples=every
    )
    _publish_examples(settings, first_count, seed=2, scenario=Scenario())
    argv = [sys.executable, "-m", "riskstream.app.cli.main", "run", "learner"]
    env = process_env(
        settings, RISKSTREAM_OPS_PORT="0", RISKSTREAM_LEARNER_SNAPSHOT_EXAMPLES=str(every)
    )
    log_path = tmp_path / "learner.log"
    with log_path.open("w") as log_file:
        first = subprocess.Popen(argv, env=env, stderr=log_file)
        try:  # killed as soon as its first snapshot is registered, mid-stream
            eventually(lambda: "learner: snapshot" in log_path.read_text(), 120, "a first snapshot")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
    saved = _snapshots(settings)[-1][1]["progressive_examples"]
    assert every <= saved < first_count, saved  # examples after it were lost with the process

    _publish_examples(settings, total - first_count, seed=3, scenario=Scenario())
    _learn(settings, total)
    _, metrics, tags = _snapshots(settings)[-1]
    assert metrics["progressive_examples"] == total
    assert sum(parse_offsets(tags[OFFSETS_TAG]).values()) == total
    assert np.isfinite(metrics["progressive_roc_auc"])


def test_a_retrain_judges_the_snapshot_that_has_not_learned_its_holdout_beside_the_batch_one(
    stack: Settings, tmp_path: Path
) -> None:
    """The learner learns the older 70% and snapshots; the newest 30% arrive after. A retrain
    over all of them holds those 30% out: the snapshot never saw them, so it is compared on
    them with the batch candidate, and the better one is the version the outcome announces."""
    settings = deployment_with_champion(
        stack, "lrival", tmp_path, partitions=2, learner_snapshot_examples=100_000
    )
    concept = Scenario.named("concept-drift", start=0)
    _publish_examples(settings, 700, seed=4, scenario=concept)
    snapshot = _learn(settings, 700).snapshots[-1]
    _publish_examples(settings, 300, seed=5, scenario=concept)
    publish_retrain_request(settings, ("MANUAL",), range_start=None, range_end=None)
    trainer = Trainer(settings)
    thread = threading.Thread(target=trainer.run, kwargs={"max_runs": 1}, daemon=True)
    thread.start()
    thread.join(240)
    outcome = trainer.last_outcome
    assert outcome is not None and outcome.status in ("PROMOTED", "CHALLENGER"), outcome
    rival = outcome.lineage["online_rival"]
    assert rival.startswith(f"online snapshot {snapshot} roc_auc ")
    online_auc = outcome.metrics["online_holdout_roc_auc"]
    assert 0.5 < online_auc <= 1.0
    if "the snapshot is the candidate" in rival:
        assert outcome.version == snapshot
        assert outcome.metrics["holdout_roc_auc"] == online_auc
        assert outcome.metrics["batch_holdout_roc_auc"] < online_auc
    else:
        assert outcome.version != snapshot
        assert outcome.metrics["holdout_roc_auc"] >= online_auc
