"""Champion and challenger in the scorer, against the real broker and MLflow: every record's
shadow prediction survives a SIGKILL exactly once, the A/B split serves a stable set of
patients, and the challenger is followed as the registry moves it (#15)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riskstream.kafka.clients import codec_for
from riskstream.kafka.model_events import publish_model_event
from riskstream.models.bootstrap import bootstrap
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry
from riskstream.schemas.events import ModelVersionEvent
from riskstream.settings import Settings
from riskstream.stream_processors.scorer import Scorer
from riskstream.stream_processors.variants import serving_variant
from riskstream.topics import PATIENT_RECORDS, PREDICTIONS, SHADOW_PREDICTIONS
from tests.integration.conftest import deployment_with_champion, drain_committed, process_env
from tests.integration.test_scorer import _wait_for_some_predictions
from tests.unit.schemas.samples import SAMPLES

pytestmark = pytest.mark.integration
PATIENTS = 400


def _with_challenger(settings: Settings) -> tuple[str, str]:
    """(champion, challenger): a second version registered and given the challenger alias."""
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    challenger = bootstrap(settings).version
    assert champion and challenger != champion
    registry.set_alias(CHAMPION, champion)  # whatever the bootstrap's gates decided
    registry.set_alias(CHALLENGER, challenger)
    return champion, challenger


def _send(settings: Settings, first: int, count: int) -> None:
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 5}))
    for i in range(first, first + count):
        record: dict[str, Any] = {
            **SAMPLES["PatientRecord"],
            "request_id": f"req-{i}",
            "patient_id": f"p-{i % PATIENTS}",
            "glucose": 80.0 + (i % 120),
            "age": 21 + (i % 50),
        }
        producer.produce(
            settings.topic(PATIENT_RECORDS.name),
            key=record["patient_id"].encode(),
            value=codec.encode("PatientRecord", record),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


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
    argv = [sys.executable, "-m", "riskstream.cli.main", "run", "scorer", "--batch-size", "100"]
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
        expected = serving_variant(e["patient_id"], split)
        version = challenger if expected == "challenger" else champion
        assert (e["variant"], e["model_version"]) == (expected, version), e["request_id"]
        other = twin[e["request_id"]]
        assert other["variant"] != e["variant"] and other["model_version"] != version
        by_patient[e["patient_id"]].add(e["variant"])
    assert all(len(variants) == 1 for variants in by_patient.values())
    on_challenger = sum("challenger" in v for v in by_patient.values()) / len(by_patient)
    # 400 patients: the binomial sd of the share is 0.023
    assert abs(on_challenger - split) < 0.1, f"challenger serves {on_challenger:.2f} of patients"
    print(
        f"SIGKILL after {seen} predictions: {total} records, {len(served)} served and "
        f"{len(shadow)} shadow predictions; challenger serves {on_challenger:.3f} of patients"
    )


def test_the_scorer_follows_the_challenger_alias_and_a_promotion_ends_the_shadow(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(stack, "shf", tmp_path)
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    scorer = Scorer(settings)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _wait(lambda: scorer.models.current is not None, "the scorer loaded no champion")
        time.sleep(2)  # the follower assigns model-versions at its end
        _send(settings, 0, 100)
        _wait(lambda: scorer.stats.predictions == 100, "the first 100 were not scored")
        assert scorer.stats.shadow_predictions == 0  # no challenger yet: champion alone

        challenger = bootstrap(settings).version
        registry.set_alias(CHALLENGER, challenger)
        publish_model_event(
            settings,
            ModelVersionEvent.announce(
                settings.model_name, "CHALLENGER", version=challenger, alias=CHALLENGER
            ),
        )
        _wait(lambda: scorer.models.challenger is not None, "the challenger was not loaded")
        _send(settings, 100, 100)
        _wait(lambda: scorer.stats.predictions == 200, "the second 100 were not scored")
        assert scorer.stats.shadow_predictions == 100

        registry.promote(challenger)
        assert registry.alias_version(CHALLENGER) is None  # a promotion ends the challenge
        publish_model_event(
            settings,
            ModelVersionEvent.announce(
                settings.model_name,
                "PROMOTED",
                version=challenger,
                alias=CHAMPION,
                previous_version=champion,
            ),
        )
        _wait(lambda: scorer.models.current.version == challenger, "no swap to the challenger")
        assert scorer.models.challenger is None
        _send(settings, 200, 100)
        _wait(lambda: scorer.stats.predictions == 300, "the third 100 were not scored")
        assert scorer.stats.shadow_predictions == 100
    finally:
        stop.set()
        thread.join(30)
    shadow = drain_committed(settings, SHADOW_PREDICTIONS.name, "Prediction", 100, 30)
    assert sorted(e["request_id"] for e in shadow) == sorted(f"req-{i}" for i in range(100, 200))
    assert {(e["variant"], e["model_version"]) for e in shadow} == {("challenger", challenger)}


def _wait(condition: Any, failure: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert condition(), failure
