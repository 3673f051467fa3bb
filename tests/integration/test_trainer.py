"""The trainer worker against the real broker and a real MLflow store (sqlite + files)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import LABELED_EXAMPLES, MODEL_VERSIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import publish_retrain_request
from riskstream.models import data
from riskstream.models.bootstrap import bootstrap
from riskstream.models.registry import CHAMPION, Registry
from riskstream.stream_processors.retrain_data import REFERENCE_MIN
from riskstream.stream_processors.trainer import Trainer
from tests.integration.conftest import process_env, read_messages
from tests.waiting import eventually, wait_for

T0 = 1_750_000_000_000


DEPLOYMENT = {
    "stem": "tr",
    "champion": True,
    "publish": True,
    "topic_partitions": 2,
    "shared": True,
}


def _examples(labels: np.ndarray, start_ms: int) -> list[dict[str, Any]]:
    raw, _ = data.load(data.HOLDOUT_FILE)
    out = []
    for i, (row, label) in enumerate(zip(raw.to_dict(orient="records"), labels, strict=False)):
        out.append(
            {
                "example_id": str(uuid.uuid4()),
                "request_id": f"r{i}",
                "patient_ref": f"p{i}",
                "event_time": start_ms + i * 1000,
                "labeled_at": start_ms + i * 1000 + 500,
                "features": {k: float(v) for k, v in row.items()},
                "label": int(label),
                "risk": 0.5,
                "predicted_label": 1,
                "model_version": "1",
                "prediction_partition": 0,
                "prediction_offset": i,
                "truth_partition": 0,
                "truth_offset": i,
            }
        )
    return out


def _publish_examples(settings: Settings, examples: list[dict[str, Any]]) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    for e in examples:
        producer.produce(
            settings.topic(LABELED_EXAMPLES.name),
            key=e["patient_ref"].encode(),
            value=codec.encode("LabeledExample", e),
        )
    assert producer.flush(15) == 0


def _request(
    settings: Settings,
    start_ms: int | None,
    end_ms: int | None,
    reasons: tuple[str, ...] = ("MANUAL",),
) -> str:
    return publish_retrain_request(
        settings, reasons, range_start=start_ms, range_end=end_ms, detail="test"
    )


def _run_trainer_once(settings: Settings) -> dict[str, Any]:
    trainer = Trainer(settings)
    thread = threading.Thread(target=trainer.run, kwargs={"max_runs": 1}, daemon=True)
    thread.start()
    thread.join(timeout=240)
    assert not thread.is_alive(), "trainer did not finish a run within 240 s"
    assert trainer.runs == 1 and trainer.last_outcome is not None
    return trainer.last_outcome.to_avro()


def _model_version_events(settings: Settings) -> list[dict[str, Any]]:
    """The committed model-versions events, as the scorers read them."""
    codec = codec_for(settings)
    read = read_messages(settings, settings.topic(MODEL_VERSIONS.name), 1, 20, quiet_s=0.5)
    return [codec.decode(m.value(), "ModelVersionEvent") for m in read]


def test_a_trainer_opens_its_registry_before_the_first_request(deployment: Settings) -> None:
    """The registry process's start and the store's first open cost seconds (MLflow,
    SQLAlchemy, Alembic): paid at start, not by the first drift retrain."""
    trainer, stop = Trainer(deployment), threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        eventually(lambda: trainer.metrics.ready, 60, "the trainer ready to consume")
        assert trainer.runs == 0 and trainer.registry.experiment_id is not None
    finally:
        stop.set()
        thread.join(30)


def test_too_few_labeled_examples_are_skipped_and_said_so(deployment: Settings) -> None:
    start = T0 + 10_000_000
    _publish_examples(deployment, _examples(np.array([0, 1] * 10), start))
    _request(deployment, start, start + 10_000_000)
    outcome = _run_trainer_once(deployment)
    assert outcome["status"] == "SKIPPED"
    assert "only 20 labeled examples" in outcome["reason"]
    published = _model_version_events(deployment)
    assert any(e["event_id"] == outcome["event_id"] and e["status"] == "SKIPPED" for e in published)


def test_a_retrain_reads_at_most_the_newest_max_examples_of_its_range(
    deployment: Settings,
) -> None:
    """150 examples in the range, a cap of 100: the trainer sees at most 100 (and then skips,
    needing 120), where without the cap it would have trained on all 150."""
    start = T0 + 15_000_000
    _publish_examples(deployment, _examples(np.array([0, 1] * 75), start))
    capped = deployment.model_copy(
        update={"retrain_max_examples": 100, "retrain_min_examples": 120}
    )
    _request(capped, start, start + 10_000_000)
    outcome = _run_trainer_once(capped)
    assert outcome["status"] == "SKIPPED", outcome
    seen = int(outcome["reason"].split("only ")[1].split(" ")[0])
    assert 90 <= seen <= 100, outcome["reason"]  # the newest 50 of each of 2 partitions


def test_one_class_is_skipped(deployment: Settings) -> None:
    start = T0 + 20_000_000
    _publish_examples(deployment, _examples(np.zeros(150, dtype=int), start))
    _request(deployment, start, start + 1_000_000)
    outcome = _run_trainer_once(deployment)
    assert outcome["status"] == "SKIPPED"
    assert "only one class" in outcome["reason"]


def test_a_candidate_failing_the_gates_is_never_promoted(deployment: Settings) -> None:
    registry = Registry(deployment)
    champion_before = registry.alias_version(CHAMPION)
    start = T0 + 30_000_000
    noise = np.random.default_rng(1).integers(0, 2, size=332)  # labels unrelated to features
    _publish_examples(deployment, _examples(noise, start))
    _request(deployment, start, start + 1_000_000, ("PERFORMANCE_DROP",))
    outcome = _run_trainer_once(deployment)
    assert outcome["status"] == "CHALLENGER"
    assert "fails the quality gates" in outcome["reason"]
    assert registry.alias_version(CHAMPION) == champion_before
    assert registry.alias_version("challenger") == outcome["version"]


def test_with_live_evidence_a_candidate_failing_the_holdout_is_rejected_not_challenger(
    deployment: Settings,
) -> None:
    """RISKSTREAM_PROMOTION_EVIDENCE=live: the holdout is the first gate; a version failing
    it is REJECTED and never scored in shadow."""
    live = deployment.model_copy(update={"promotion_evidence": "live"})
    registry = Registry(live)
    champion_before = registry.alias_version(CHAMPION)
    challenger_before = registry.alias_version("challenger")
    start = T0 + 35_000_000
    noise = np.random.default_rng(2).integers(0, 2, size=332)
    _publish_examples(live, _examples(noise, start))
    _request(live, start, start + 1_000_000, ("PERFORMANCE_DROP",))
    outcome = _run_trainer_once(live)
    assert outcome["status"] == "REJECTED" and outcome["alias"] is None
    assert "fails the quality gates" in outcome["reason"]
    assert registry.alias_version(CHAMPION) == champion_before
    assert registry.alias_version("challenger") == challenger_before != outcome["version"]


def test_a_retrain_through_the_topic_registers_a_version_with_lineage(
    deployment: Settings,
) -> None:
    start = T0 + 40_000_000
    _, labels = data.load(data.HOLDOUT_FILE)
    _publish_examples(deployment, _examples(labels.to_numpy(), start))
    retrain_id = _request(deployment, start, start + 1_000_000, ("DRIFT_ALERT",))
    outcome = _run_trainer_once(deployment)
    assert outcome["status"] in ("PROMOTED", "CHALLENGER"), outcome["reason"]
    version = outcome["version"]
    info = Registry(deployment).get(version)
    lineage = info.tags["riskstream.data_lineage"]
    topic = deployment.topic(LABELED_EXAMPLES.name)
    assert f"{topic}[" in lineage and "Pima.tr2.csv sha256:" in lineage
    assert info.tags["riskstream.training_reason"] == "DRIFT_ALERT"
    assert info.tags["riskstream.retrain_ids"] == retrain_id
    assert info.tags["riskstream.feature_pipeline"].startswith("pima-features-1")
    assert outcome["lineage"]["labeled_examples"].count(f"{topic}[") == 2  # both partitions
    assert outcome["metrics"]["holdout_n"] == pytest.approx(round(332 * 0.3), abs=1)
    events = _model_version_events(deployment)
    assert any(e["version"] == version and e["run_id"] == outcome["run_id"] for e in events)
    loaded = Registry(deployment).load(version)
    assert loaded.version == version
    # Its drift reference is the newest traffic, not Pima.tr2 plus it: the range's examples
    # after its first monitor window (one example a second: 332 - 60), or when those are
    # fewer than REFERENCE_MIN, the range's newest REFERENCE_MIN (here all 332).
    assert info.tags["riskstream.reference"] == "recent"
    assert loaded.reference["source"] == "recent"
    assert 332 - deployment.monitor_window_s < REFERENCE_MIN
    assert loaded.reference["n"] == 332 > outcome["metrics"]["holdout_n"]
    assert loaded.reference["missing_shares"]["skin_thickness"] == 0.0  # Pima.te is complete


def test_a_registered_version_keeps_no_row_of_the_examples_it_was_trained_on(
    deployment: Settings,
) -> None:
    """README "Patient data", derived copies: what a retrain leaves in MLflow (the run, its
    artifacts, the registry's sqlite store) and in the workers' model cache names no
    patient and no request of its examples, so nothing there can lead back to a patient who
    is later forgotten. A scan of every byte for the examples' references and request ids."""
    token = uuid.uuid4().hex
    start = T0 + 80_000_000
    _, labels = data.load(data.HOLDOUT_FILE)
    examples = [
        {**e, "patient_ref": f"{token}p{i}", "request_id": f"{token}r{i}"}
        for i, e in enumerate(_examples(labels.to_numpy(), start))
    ]
    _publish_examples(deployment, examples)
    _request(deployment, start, start + 1_000_000)
    outcome = _run_trainer_once(deployment)
    assert outcome["version"], outcome["reason"]  # a version was registered from them
    store = deployment.state_dir / "mlflow"
    files = [path for path in store.rglob("*") if path.is_file()]
    cached = store / "model-cache"
    assert any(path.name == "bundle.pkl" and cached in path.parents for path in files)
    assert any(path.suffix == ".db" for path in files)
    holding = [str(path) for path in files if token.encode() in path.read_bytes()]
    assert holding == [], "these derived copies hold a patient's reference or request id"


def test_a_corrupt_version_is_never_promoted(deployment: Settings) -> None:
    from riskstream.models.bundle import ModelLoadError

    registry = Registry(deployment)
    champion_before = registry.alias_version(CHAMPION)
    report = bootstrap(deployment)  # registers a challenger
    source = registry.client.get_model_version(registry.name, report.version).source
    logged = registry.client.get_logged_model(source.removeprefix("models:/"))
    bundles = list(Path(logged.artifact_location.removeprefix("file://")).rglob("bundle.pkl"))
    assert bundles, "no bundle file found for the new version"
    for bundle in bundles:
        bundle.write_bytes(b"corrupt")
    with pytest.raises(ModelLoadError):
        registry.load(report.version)
    from typer.testing import CliRunner

    from riskstream.app.cli.main import app

    env = {
        "RISKSTREAM_KAFKA_BOOTSTRAP": deployment.kafka_bootstrap,
        "RISKSTREAM_REDIS_URL": deployment.redis_url.get_secret_value(),
        "RISKSTREAM_STATE_DIR": str(deployment.state_dir),
        "RISKSTREAM_TOPIC_PREFIX": deployment.topic_prefix,
        "RISKSTREAM_TOPIC_PARTITIONS": "2",
    }
    result = CliRunner().invoke(app, ["model", "promote", report.version], env=env)
    assert result.exit_code == 1
    assert "corrupt" in result.output
    assert registry.alias_version(CHAMPION) == champion_before


def test_a_trainer_killed_mid_training_retries_the_request(deployment: Settings) -> None:
    """The outcome and the request's offset commit in one transaction, so a trainer killed
    while training leaves the request to the next one: retried, not lost, one outcome."""
    start = T0 + 80_000_000
    _, labels = data.load(data.HOLDOUT_FILE)
    _publish_examples(deployment, _examples(labels.to_numpy(), start))
    retrain_id = _request(deployment, start, start + 1_000_000, ("MANUAL",))
    argv = [sys.executable, "-m", "riskstream.app.cli.main", "run", "trainer", "--max-runs", "1"]
    # the full search (tens of seconds), not the refit (about a second): the kill lands
    # inside the training run, not after its commit
    env = process_env(deployment, RISKSTREAM_OPS_PORT="0", RISKSTREAM_RETRAIN_SEARCH="first")
    first = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    deadline = time.monotonic() + 120
    for line in first.stderr:
        if f"training for {retrain_id}" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)  # inside the training run
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert not any(
        retrain_id in e["lineage"].get("retrain_ids", "") and e["status"] != "REGISTERED"
        for e in _model_version_events(deployment)
    )
    # the retry refits (about a second): what is under test is that it happens, once
    env_retry = {**env, "RISKSTREAM_RETRAIN_SEARCH": "off"}
    second = subprocess.run(argv, env=env_retry, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr[-2000:]
    events = [
        e
        for e in _model_version_events(deployment)
        if retrain_id in e["lineage"].get("retrain_ids", "")
    ]
    # REGISTERED announces a version to the scorers (at least once); the outcome is one
    outcomes = [e for e in events if e["status"] != "REGISTERED"]
    assert len(outcomes) == 1, outcomes
    assert outcomes[0]["status"] in ("PROMOTED", "CHALLENGER", "FAILED", "SKIPPED")


def test_model_train_if_no_champion_leaves_a_champion_in_place(deployment: Settings) -> None:
    """compose's bootstrap job runs on every `up`: it must not register a version each time."""
    from typer.testing import CliRunner

    from riskstream.app.cli.main import app
    from tests.integration.conftest import worker_env

    registry = Registry(deployment)
    before = [v.version for v in registry.versions()]
    result = CliRunner().invoke(
        app, ["model", "train", "--if-no-champion"], env=worker_env(deployment)
    )
    assert result.exit_code == 0, result.output
    assert "nothing to train" in result.output
    assert [v.version for v in registry.versions()] == before


def test_a_refit_answers_first_and_the_full_search_follows_in_the_background(
    deployment: Settings,
) -> None:
    """RISKSTREAM_RETRAIN_SEARCH=background (the default): the request's outcome is the
    refit's, announced REGISTERED before it is judged; the full search then registers what
    it finds, judged by the same rules, in a transaction of its own."""
    start = T0 + 45_000_000
    _, labels = data.load(data.HOLDOUT_FILE)
    _publish_examples(deployment, _examples(labels.to_numpy(), start))
    champion = Registry(deployment).load(Registry(deployment).alias_version(CHAMPION) or "")
    retrain_id = _request(deployment, start, start + 1_000_000, ("DRIFT_ALERT",))
    # no canary watch: the search's result would wait for the watch of the refit to end
    trainer = Trainer(deployment.model_copy(update={"canary_windows": 0}))
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,), daemon=True)
    thread.start()
    try:  # the search takes 15-60 s on 2 cores
        wait_for(lambda: trainer.search_outcomes or not thread.is_alive(), 300, every=0.5)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the trainer did not stop within 60 s of being asked"
    assert trainer.search_outcomes, "no background search outcome within 300 s"
    mine = [
        e
        for e in _model_version_events(deployment)
        if retrain_id in e["lineage"].get("retrain_ids", "")
    ]
    statuses = [(e["status"], "search" in e["lineage"]) for e in mine]
    assert statuses[0] == ("REGISTERED", False), statuses
    refit_event = mine[1]
    assert refit_event["status"] in ("PROMOTED", "CHALLENGER", "REJECTED"), statuses
    assert refit_event["version"] == mine[0]["version"]
    assert refit_event["lineage"]["fit"] == "refit"
    assert "read=" in refit_event["lineage"]["seconds"]
    refit_info = Registry(deployment).get(refit_event["version"])
    assert refit_info.tags["riskstream.candidate"] == champion.kind  # the champion's family
    assert refit_info.tags["riskstream.fit"] == "refit"
    searched = [e for e in mine if "search" in e["lineage"] and e["status"] != "REGISTERED"]
    assert len(searched) == 1, statuses
    assert searched[0]["lineage"]["fit"] == "search"
    assert f"refit of version {refit_event['version']}" in searched[0]["lineage"]["search"]
    assert searched[0]["status"] in ("PROMOTED", "CHALLENGER", "REJECTED"), searched[0]["reason"]
    assert searched[0]["event_id"] == trainer.search_outcomes[0].event_id
