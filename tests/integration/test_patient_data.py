"""Patient data downstream, against the real broker and Redis: what riskstream writes
carries pseudonymous references, never a patient id (README "Patient data")."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskstream.app.tools.forget import forget
from riskstream.core.pseudonyms import patient_ref, pseudonym_key
from riskstream.core.settings import Settings
from riskstream.core.topics import CATALOG, DEAD_LETTER, GROUND_TRUTH, PATIENT_RECORDS
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.reading import messages
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import PatientRecord
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import deployment_with_champion, drain_committed
from tests.integration.redis_contents import held_in_redis
from tests.integration.servers import start_workers, wait_until_owning
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

RECORDS, PATIENTS = 400, 40
# the clinics' own input topics hold ids by design
NOT_SCANNED = {PATIENT_RECORDS.name, GROUND_TRUTH.name}


def test_no_patient_id_reaches_a_topic_or_a_redis_key_that_riskstream_writes(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(
        stack,
        "pd",
        tmp_path,
        monitor_window_s=5,
        monitor_lateness_s=1,
        performance_window_s=5,
        performance_lateness_s=1,
    )
    token = f"pid{uuid.uuid4().hex[:12]}"  # in every patient id, and nowhere else
    records, predictions = _score_and_join_patients_named(settings, token)

    # each prediction names its patient by the reference a person with the key can compute
    key = pseudonym_key(settings)
    by_request = {r.request_id: r.patient_id for r in records}
    for p in predictions:
        assert p["patient_ref"] == patient_ref(key, by_request[p["request_id"]])

    # every byte of every topic riskstream writes, keys and values
    needle = token.encode()
    codec = codec_for(settings)
    scanned = 0
    for entry in CATALOG:
        if entry.name in NOT_SCANNED:
            continue
        for m in messages(settings, settings.topic(entry.name), "beginning"):
            scanned += 1
            assert needle not in (m.key() or b"") + (m.value() or b""), entry.name
            if entry.name == "predictions":  # keyed by the reference, placed beside the record
                event = codec.decode(m.value(), "Prediction")
                assert m.partition() == event["source_partition"], "moved off its partition"
    assert scanned >= 2 * RECORDS  # predictions and labeled examples at least
    # the check can fail: the clinics' input holds the ids
    inputs = messages(settings, settings.topic(PATIENT_RECORDS.name), "beginning")
    assert any(needle in (m.value() or b"") for m in inputs)

    # every key and value riskstream keeps in Redis for this deployment
    held = held_in_redis(settings)
    assert held, "the workers kept nothing in Redis"
    for name, values in held.items():
        for form in (needle, needle.hex().encode()):  # in the clear, or hex-encoded in JSON
            assert form not in name and not any(form in v for v in values), name


def _score_and_join_patients_named(
    settings: Settings, token: str
) -> tuple[list[PatientRecord], list[dict[str, Any]]]:
    """RECORDS records of PATIENTS patients whose ids hold ``token``, scored, joined and
    monitored; the records, and the predictions once every one is labeled."""
    sim = Simulator(PimaModel.fit(), Scenario.named("none"), seed=3, run=uuid.uuid4().hex[:6])
    items = list(sim.stream(RECORDS, int(time.time() * 1000) - 20_000))
    records = [
        dataclasses.replace(item.record, patient_id=f"{token}-{i % PATIENTS}")
        for i, item in enumerate(items)
    ]
    workers = {
        "scorer": Scorer(settings, instance="pd"),
        "joiner": Joiner(settings),
        "monitor": Monitor(settings),
        "performance": PerformanceMonitor(settings),
    }
    stop = threading.Event()
    threads = start_workers(workers, stop)
    try:
        wait_until_owning({n: w for n, w in workers.items() if n != "joiner"}, 90)
        publisher = Publisher(settings)
        for record, item in zip(records, items, strict=True):
            publisher.send_record(record)
            publisher.send_truth(record, item.outcome)
        assert publisher.finish(PublishSummary(sent=RECORDS), timeout=60).failed == 0
        predictions = drain_committed(settings, "predictions", "Prediction", RECORDS, 120)
        examples = drain_committed(settings, "labeled-examples", "LabeledExample", RECORDS, 120)
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)
    assert len(predictions) == len(examples) == RECORDS
    return records, predictions


def test_dead_letters_are_listed_with_their_source_and_their_originals_masked(
    stack: Settings, tmp_path: Path
) -> None:
    """The scorer dead-letters a record with an impossible glucose and bytes that are no
    record at all; `riskstream dead-letters` names each one's reason and source, and shows
    neither the patient id nor a lab value until asked with --show-values."""
    from typer.testing import CliRunner

    from riskstream.app.cli.main import app
    from tests.integration.conftest import worker_env

    settings = deployment_with_champion(stack, "dl", tmp_path)
    token = f"pid{uuid.uuid4().hex[:12]}"
    topic = settings.topic(PATIENT_RECORDS.name)
    _dead_letter_two_inputs_of(settings, token)

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["dead-letters", *args], env=worker_env(settings))
        assert result.exit_code == 0, result.output
        return result.output

    masked = cli("--format", "jsonl")
    letters = [json.loads(line) for line in masked.splitlines() if line.startswith("{")]
    assert sorted(letter["reason"] for letter in letters) == [
        "out_of_range:glucose",
        "wrong_magic_byte",
    ]
    assert {letter["source_topic"] for letter in letters} == {topic}
    # one patient's key: one partition, the two offsets in order
    assert sorted(letter["source_offset"] for letter in letters) == [0, 1]
    for letter in letters:
        assert (
            letter["original_value"].startswith("sealed <") and "sha256" in letter["original_value"]
        )
    table = cli()
    assert "out_of_range:glucose" in table and "2 dead letter(s)" in table
    assert token not in masked + table and "987.25" not in masked + table
    # at rest too: the originals are sealed, and the letters are keyed by the reference
    stored = messages(settings, settings.topic(DEAD_LETTER.name), "beginning")
    assert not any(token.encode() in (m.key() or b"") + (m.value() or b"") for m in stored)
    shown = cli("--show-values", "--reason", "out_of_range", "--format", "jsonl")
    assert token in shown and "987.25" in shown and "PatientRecord" in shown
    assert "not a record" not in shown  # the other reason is filtered out

    # forgotten: not even --show-values can read them again
    forget(settings, token, "test")
    shown = cli("--show-values", "--format", "jsonl")
    assert token not in shown and "987.25" not in shown and "forgotten" in shown


def _dead_letter_two_inputs_of(settings: Settings, token: str) -> None:
    """Patient ``token``'s record with an impossible glucose (987.25) and bytes that are no
    record at all, both dead-lettered by a scorer."""
    from confluent_kafka import Producer

    from tests.unit.schemas.samples import SAMPLES

    codec = codec_for(settings)
    record = {**SAMPLES["PatientRecord"], "patient_id": token, "glucose": 987.25}
    producer = Producer(settings.kafka_config())
    topic = settings.topic(PATIENT_RECORDS.name)
    producer.produce(topic, key=token.encode(), value=codec.encode("PatientRecord", record))
    producer.produce(topic, key=token.encode(), value=f"not a record of {token}".encode())
    assert producer.flush(30) == 0
    scorer = Scorer(settings, instance="dl")
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: scorer.stats.dead_letters >= 2, 90)
    finally:
        stop.set()
        thread.join(30)
