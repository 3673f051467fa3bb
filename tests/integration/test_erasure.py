"""Erasure end to end, against the real broker and Redis (README "Patient data"): patient A
is forgotten, patient B is not; retraining, the backtest and a replay then read nothing of A
and all of B, and after a compaction pass A's data key is physically gone from the log."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from riskstream.app.tools.backtest import read_labeled_range
from riskstream.app.tools.forget import forget
from riskstream.app.tools.replay import replay
from riskstream.core.pseudonyms import patient_ref, pseudonym_key
from riskstream.core.settings import Settings
from riskstream.core.topics import (
    AUDIT,
    DEAD_LETTER,
    LABELED_EXAMPLES,
    PATIENT_KEYS,
    PATIENT_RECORDS,
)
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.factory import admin_client
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.io.kafka.reading import messages, read_events
from riskstream.io.redis_client import CACHED_AT, connect, prediction_key
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import DeadLetter, Prediction
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.labeled_examples import read_labeled_examples
from riskstream.stream_processors.retrain_data import MergedRequest, RetrainData, retrain_data
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import deployment_with_champion, drain_committed
from tests.integration.servers import start_workers, wait_until_owning
from tests.waiting import eventually

pytestmark = pytest.mark.integration
EACH = 40  # records (and labels) per patient


def test_a_forgotten_patient_cannot_be_read_anywhere_and_the_other_is_intact(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(stack, "er", tmp_path, retrain_min_examples=20)
    token = uuid.uuid4().hex[:10]
    a_id, b_id = f"a-{token}", f"b-{token}"
    _score_and_join_two_patients(settings, a_id, b_id, token)
    key = pseudonym_key(settings)
    a_ref, b_ref = patient_ref(key, a_id), patient_ref(key, b_id)
    codec = codec_for(settings)

    # before: both patients' examples open, their records backtest, A is in the cache
    before = read_labeled_examples(settings, codec, None, None)
    assert len(before.examples) == 2 * EACH and before.unreadable == 0
    assert all(e.features for e in before.examples), "an example's features did not open"
    assert _cached_refs(settings).get(a_ref, 0) == EACH
    backtested = read_labeled_range(settings, "beginning", None)
    assert len(backtested.outcome) == 2 * EACH
    a_wrapped = [m.value() for m in _keys_of(settings, a_ref) if m.value() is not None]
    assert a_wrapped, "no data key was written for patient A"

    erasure = forget(settings, a_id, "the patient asked (test)", actor="dpo@test")
    assert erasure.refs == (a_ref,) and erasure.keys_destroyed >= 1
    assert erasure.cache_entries >= EACH

    # nothing of A opens, anywhere; all of B does
    after = read_labeled_examples(settings, codec, None, None)
    assert after.unreadable == EACH
    assert {e.patient_ref for e in after.examples} == {b_ref}
    by_request = {e.request_id: e for e in before.examples}
    assert all(e.features == by_request[e.request_id].features for e in after.examples)
    _assert_only_bs_dead_letter_opens(settings, a_ref, b_ref, b_id)
    assert a_ref not in _cached_refs(settings) and _cached_refs(settings)[b_ref] == EACH
    _assert_retrain_backtest_and_replay_leave_a_out(settings, b_id)
    _assert_the_audit_names_the_reference_never_the_id(settings, a_id, a_ref)

    # a compaction pass (forced: tiny segments, any dirt cleanable) removes A's key bytes
    _compact_now(settings)

    def a_key_gone() -> bool:
        _roll_segment(settings)
        held = [m.value() for m in _keys_of(settings, a_ref) if m.value() is not None]
        return not any(value in a_wrapped for value in held)

    eventually(a_key_gone, 150, "the log cleaner removing patient A's wrapped key", every=3.0)
    assert any(m.value() is not None for m in _keys_of(settings, b_ref)), "B's key went too"


def _score_and_join_two_patients(settings: Settings, a_id: str, b_id: str, token: str) -> None:
    """EACH records and labels per patient scored and joined, and one impossible record each
    dead-lettered (sealed under the patients' keys)."""
    sim = Simulator(PimaModel.fit(), Scenario.named("none"), seed=5, run=token[:6])
    items = list(sim.stream(2 * EACH, int(time.time() * 1000) - 20_000))
    records = [
        dataclasses.replace(item.record, patient_id=a_id if i % 2 else b_id)
        for i, item in enumerate(items)
    ]
    rejected = [
        dataclasses.replace(items[0].record, patient_id=who, request_id=f"bad-{who}", glucose=9e4)
        for who in (a_id, b_id)
    ]
    workers = {"scorer": Scorer(settings, instance="er"), "joiner": Joiner(settings)}
    stop = threading.Event()
    threads = start_workers(workers, stop)
    try:
        wait_until_owning(workers, 90)
        publisher = Publisher(settings)
        for record, item in zip(records, items, strict=True):
            publisher.send_record(record)
            publisher.send_truth(record, item.outcome)
        for record in rejected:
            publisher.send_record(record)
        assert publisher.finish(PublishSummary(sent=2 * EACH + 2), timeout=60).failed == 0
        drain_committed(settings, DEAD_LETTER.name, "DeadLetter", 2, 120)
        drain_committed(settings, LABELED_EXAMPLES.name, "LabeledExample", 2 * EACH, 120)
    finally:
        stop.set()
        for thread in threads.values():
            thread.join(30)


def _assert_only_bs_dead_letter_opens(
    settings: Settings, a_ref: str, b_ref: str, b_id: str
) -> None:
    letters = {
        e.patient_ref: e
        for e in read_events(settings, settings.topic(DEAD_LETTER.name), DeadLetter, "beginning")
    }
    assert letters.keys() == {a_ref, b_ref} and letters[a_ref].sealed_original
    fresh = PatientKeyring(settings).load()
    assert fresh.open_letter(letters[a_ref]) is None  # A's rejected record: unreadable
    b_letter = fresh.open_letter(letters[b_ref])
    assert b_letter is not None and b_letter.original_key == b_id.encode()
    assert a_ref not in fresh.keys and b_ref in fresh.keys and a_ref in fresh.forgotten
    fresh.close()


def _assert_retrain_backtest_and_replay_leave_a_out(settings: Settings, b_id: str) -> None:
    codec = codec_for(settings)
    # retraining: A's examples are left out, and the lineage says how many
    data = retrain_data(settings, codec, MergedRequest(unbounded_start=True, unbounded_end=True))
    assert isinstance(data, RetrainData), data
    assert data.examples == EACH and data.lineage["unreadable_examples"] == str(EACH)
    # the backtest and a replay of the clinics' records leave A out
    assert len(read_labeled_range(settings, "beginning", None).outcome) == EACH
    target = f"{settings.topic_prefix}replayed-records"
    report = replay(settings, settings.topic(PATIENT_RECORDS.name), target)
    assert (report.copied, report.forgotten) == (EACH + 1, EACH + 1)  # the rejected ones too
    copied = [
        codec.decode(m.value(), "PatientRecord") for m in messages(settings, target, "beginning")
    ]
    assert {r["patient_id"] for r in copied} == {b_id}


def _assert_the_audit_names_the_reference_never_the_id(
    settings: Settings, a_id: str, a_ref: str
) -> None:
    codec = codec_for(settings)
    audits = [m.value() or b"" for m in messages(settings, settings.topic(AUDIT.name), "beginning")]
    forgot = [codec.decode(v, "AuditEvent") for v in audits if b"forget" in v]
    assert len(forgot) == 1 and forgot[0]["actor"] == "dpo@test"
    assert forgot[0]["detail"]["patient_refs"] == a_ref
    assert not any(a_id.encode() in v for v in audits)


def _keys_of(settings: Settings, ref: str) -> list[Message]:
    """Every record of ``patient-keys`` keyed by ``ref`` still in the log."""
    held = messages(settings, settings.topic(PATIENT_KEYS.name), "beginning")
    return [m for m in held if (m.key() or b"").startswith(ref.encode())]


def _cached_refs(settings: Settings) -> dict[str, int]:
    """How many predictions the joiner's cache holds per patient reference."""
    redis, codec = connect(settings), codec_for(settings)
    held: dict[str, int] = {}
    for name in redis.scan_iter(match=prediction_key(settings, "*"), count=1000):
        hit = redis.get(name)
        if hit is not None:
            ref = codec.decode_event(hit[CACHED_AT.size :], Prediction).patient_ref
            held[ref] = held.get(ref, 0) + 1
    return held


def _compact_now(settings: Settings) -> None:
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        settings.topic(PATIENT_KEYS.name),
        incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in {
                "segment.ms": "100",
                "min.cleanable.dirty.ratio": "0.01",
                "min.compaction.lag.ms": "0",
                "max.compaction.lag.ms": "100",
            }.items()
        ],
    )
    admin = admin_client(settings)  # held: its futures need it alive
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def _roll_segment(settings: Settings) -> None:
    """A record after ``segment.ms`` rolls the active segment, which the cleaner never
    touches, so the one holding the tombstoned key becomes cleanable."""
    producer = Producer(settings.kafka_config({}))
    producer.produce(settings.topic(PATIENT_KEYS.name), key=b"compaction-probe", value=None)
    producer.flush(10)
