import hashlib
import hmac
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from riskstream.core.errors import ConfigError
from riskstream.core.pseudonyms import (
    KEY_FILE,
    keyed_ref,
    patient_ref,
    previous_keys,
    pseudonym_key,
)
from riskstream.core.slices import ClusterSettings


def test_a_reference_is_stable_under_one_key_and_unrelated_under_another() -> None:
    ref = patient_ref(b"k1", "patient-000000042")
    assert ref == patient_ref(b"k1", "patient-000000042")
    assert len(ref) == 32 and int(ref, 16) >= 0
    assert ref != patient_ref(b"k2", "patient-000000042")
    assert ref != patient_ref(b"k1", "patient-000000043")
    # keyed: the plain hash of a guessed id does not find it; it is HMAC-SHA256 as anyone
    # holding the key computes it
    assert ref != hashlib.sha256(b"patient-000000042").hexdigest()[:32]
    assert ref == hmac.new(b"k1", b"patient-000000042", hashlib.sha256).hexdigest()[:32]


def test_the_configured_key_wins_and_previous_keys_are_a_list(tmp_path: Path) -> None:
    settings = ClusterSettings(
        state_dir=tmp_path,
        kafka_bootstrap="kafka.example:9092",
        pseudonym_key=SecretStr("secret"),
        pseudonym_previous_keys=SecretStr(" old-1 , old-2,"),
    )
    assert pseudonym_key(settings) == b"secret"
    assert previous_keys(settings) == [b"old-1", b"old-2"]
    assert not (tmp_path / KEY_FILE).exists()


def test_the_local_stack_makes_one_private_key_and_every_worker_reads_it(tmp_path: Path) -> None:
    local = ClusterSettings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9092,localhost:9094")
    first = pseudonym_key(local)
    path = tmp_path / KEY_FILE
    assert len(first) == 64 and path.read_bytes() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pseudonym_key(local) == first  # a second worker, or a restart: the same key
    elsewhere = ClusterSettings(state_dir=tmp_path, kafka_bootstrap="10.0.0.5:9092")
    assert pseudonym_key(elsewhere) == first  # a key file present is used wherever


def test_outside_the_local_stack_a_missing_key_stops_the_worker_and_says_what_to_set(
    tmp_path: Path,
) -> None:
    remote = ClusterSettings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:9092,kafka-2:9092")
    with pytest.raises(ConfigError) as caught:
        pseudonym_key(remote)
    assert caught.value.hint and "RISKSTREAM_PSEUDONYM_KEY" in caught.value.hint
    assert not (tmp_path / KEY_FILE).exists()


def test_a_message_key_names_its_patients_reference_and_no_key_names_none() -> None:
    key = b"k" * 32
    assert keyed_ref(key, b"p-7") == patient_ref(key, "p-7")
    assert keyed_ref(key, None) is None and keyed_ref(key, b"") is None
