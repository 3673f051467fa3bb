"""The keyring's bookkeeping, without a broker: what it holds after the records it reads,
what it seals and opens, and what it forgets when a transaction rolls back."""

import dataclasses
import logging
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from pydantic import SecretStr

from riskstream.core.patient_crypto import new_data_key, wrap_key
from riskstream.core.pseudonyms import patient_ref
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.patient_keys import FORGOTTEN, ForgottenPatients, PatientKeyring, kek_for
from riskstream.schemas.events import DeadLetter, LabeledExample, PatientKey
from tests.unit.schemas.samples import SAMPLES

T = 1_700_000_000_000


def _settings(tmp_path: Path) -> ClusterSettings:
    return ClusterSettings(
        state_dir=tmp_path,
        kafka_bootstrap="kafka.example:9092",
        key_encryption_key=SecretStr("unit-test secret"),
    )


def _example(ref: str, **features: float) -> LabeledExample:
    sample = {**SAMPLES["LabeledExample"], "features_key_id": None, "sealed_features": None}
    return dataclasses.replace(LabeledExample.from_avro(sample), patient_ref=ref, features=features)


def _record(settings: ClusterSettings, ref: str, key: bytes, kid: str) -> tuple[bytes, bytes]:
    event = PatientKey(ref, kid, wrap_key(kek_for(settings), ref, key), T)
    return f"{ref}:{kid}".encode(), codec_for(settings).encode_event(event)


def test_an_example_sealed_by_one_keyring_opens_in_another_that_read_its_key(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    joiner = PatientKeyring(settings)
    sealed = joiner.seal(_example("ref-a", glucose=148.0, bmi=33.6))
    assert sealed.features == {} and sealed.sealed_features and sealed.features_key_id
    (made,) = joiner.unwritten  # written by the joiner, in its transaction
    assert made.patient_ref == "ref-a" and made.key_id == sealed.features_key_id
    assert b"148" not in (sealed.sealed_features or b"")

    trainer = PatientKeyring(settings)
    assert trainer.open(sealed) is None and trainer.stats.unreadable == 1  # key not read yet
    key = f"ref-a:{made.key_id}".encode()
    trainer._apply(key, codec_for(settings).encode_event(made))
    opened = trainer.open(sealed)
    assert opened is not None and opened.features == {"glucose": 148.0, "bmi": 33.6}
    assert opened.sealed_features is None
    unsealed = _example("ref-old", age=50.0)  # written before sealing: passed through
    assert trainer.open(unsealed) == unsealed


def test_a_second_example_reuses_the_key_and_a_rolled_back_key_is_dropped(tmp_path: Path) -> None:
    keyring = PatientKeyring(_settings(tmp_path))
    one = keyring.seal(_example("ref-a", age=1.0))
    two = keyring.seal(_example("ref-a", age=2.0))
    assert one.features_key_id == two.features_key_id and len(keyring.unwritten) == 1
    keyring.discard_unwritten()  # the transaction aborted: the key never reached the topic
    assert "ref-a" not in keyring.keys and not keyring.unwritten
    three = keyring.seal(_example("ref-a", age=3.0))
    assert three.features_key_id != one.features_key_id
    keyring.written()
    assert keyring.stats.keys_made == 1 and not keyring.unwritten
    keyring.discard_unwritten()  # nothing pending: the committed key stays
    assert keyring.open(three) is not None


def test_a_tombstone_makes_what_was_sealed_unreadable_and_a_marker_says_when(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    keyring = PatientKeyring(settings)
    data_key = new_data_key()
    key, value = _record(settings, "ref-a", data_key, "k1")
    keyring._apply(key, value)
    sealed = PatientKeyring(settings, keys=keyring.keys).seal(_example("ref-a", age=7.0))
    assert keyring.open(sealed) is not None
    keyring._apply(key, None)  # forget: the tombstone
    assert "ref-a" not in keyring.keys and keyring.open(sealed) is None
    marker = PatientKey("ref-a", "", b"", T, forgotten=True)
    keyring._apply(f"ref-a:{FORGOTTEN}".encode(), codec_for(settings).encode_event(marker))
    assert keyring.forgotten == {"ref-a": T}


def test_it_holds_the_newest_patients_only_or_the_ones_wanted(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    small = PatientKeyring(settings, capacity=2)
    wanted = PatientKeyring(settings, wanted=frozenset({"ref-b"}))
    for ref in ("ref-a", "ref-b", "ref-c"):
        key, value = _record(settings, ref, new_data_key(), "k")
        small._apply(key, value)
        wanted._apply(key, value)
    assert list(small.keys) == ["ref-b", "ref-c"]
    assert list(wanted.keys) == ["ref-b"]


def test_a_key_wrapped_under_another_secret_is_skipped_not_fatal(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    other = settings.model_copy(update={"key_encryption_key": SecretStr("another")})
    keyring = PatientKeyring(settings)
    keyring._apply(*_record(other, "ref-a", new_data_key(), "k"))
    assert keyring.keys == {}


def test_a_dead_letter_is_sealed_under_the_patient_its_key_names(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    codec = codec_for(settings)
    record = {**SAMPLES["PatientRecord"], "patient_id": "p-7", "glucose": 9e4}
    original = codec.encode("PatientRecord", record)
    raw = DeadLetter.from_avro(
        {**SAMPLES["DeadLetter"], "original_key": b"p-7", "original_value": original}
    )
    raw = dataclasses.replace(raw, patient_ref=None, source=None)
    scorer = PatientKeyring(settings)
    sealed = scorer.seal_letter(raw, b"pseudonym key")
    assert sealed.original_key is None and sealed.original_value is None
    assert sealed.patient_ref == patient_ref(b"pseudonym key", "p-7")
    assert sealed.source == record["source"]  # read before sealing, for the segments
    assert b"p-7" not in (sealed.sealed_original or b"")
    (made,) = scorer.unwritten
    assert made.patient_ref == sealed.patient_ref and made.key_id == sealed.original_key_id
    opened = scorer.open_letter(sealed)
    assert opened is not None and (opened.original_key, opened.original_value) == (
        b"p-7",
        original,
    )
    stranger = PatientKeyring(settings)
    assert stranger.open_letter(sealed) is None and stranger.stats.unreadable == 1
    keyless = scorer.seal_letter(dataclasses.replace(raw, original_key=None), b"pseudonym key")
    assert keyless.patient_ref == f"letter-{raw.dead_letter_id}"
    assert scorer.open_letter(raw) == raw  # written before sealing: as it is


def test_records_from_before_an_erasure_are_found_by_reference_or_by_id() -> None:
    ref = patient_ref(b"pseudonym key", "p-7")
    forgotten = ForgottenPatients({ref: T}, b"pseudonym key")
    assert forgotten and forgotten.holds(ref, T) and forgotten.holds("p-7", T - 1)
    assert not forgotten.holds("p-7", T + 1)  # sent after the request: new data
    assert not forgotten.holds("p-8", T) and not ForgottenPatients({}, b"")


def test_a_keyring_knows_a_key_it_holds_or_a_forgotten_patient_and_nothing_newer(
    tmp_path: Path,
) -> None:
    """What tells a reader to refresh: a key it does not hold, of a patient not forgotten."""
    settings = _settings(tmp_path)
    joiner, reader = PatientKeyring(settings), PatientKeyring(settings)
    kid, _ = joiner.key_for("ref-a")
    assert joiner.knows("ref-a", kid) and not reader.knows("ref-a", kid)
    assert not joiner.knows("ref-a", "another-key") and not joiner.knows("ref-a", None)
    reader.forgotten["ref-a"] = T
    assert reader.knows("ref-a", kid)  # nothing will open: no refresh can help
    bytes_kid, sealed = joiner.seal_bytes("ref-b", b"p-1", b"value")
    assert joiner.open_bytes("ref-b", bytes_kid, sealed) == (b"p-1", b"value")
    assert reader.open_bytes("ref-b", bytes_kid, sealed) is None and reader.stats.unreadable == 1


def test_following_through_a_broker_restart_waits_and_never_ends_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A joiner died in a broker restart: its keyring's refresh raised out of its tick."""
    keyring = PatientKeyring(_settings(tmp_path))
    reads: list[int] = []

    def away() -> PatientKeyring:
        reads.append(1)
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata"))

    monkeypatch.setattr(keyring, "refresh", away)
    with caplog.at_level(logging.WARNING):
        keyring.follow(every_s=60)
        keyring.follow(every_s=60)  # within the interval: not read again
    assert len(reads) == 1
    assert "could not read" in caplog.text and "trying again in 60 s" in caplog.text
    keyring.follow(every_s=0)
    assert len(reads) == 2
