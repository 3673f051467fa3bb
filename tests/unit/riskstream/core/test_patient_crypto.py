import math

import pytest

from riskstream.core.patient_crypto import (
    NONCE_BYTES,
    SealError,
    key_encryption_key,
    key_id,
    new_data_key,
    open_features,
    open_original,
    seal_features,
    seal_original,
    unwrap_key,
    wrap_key,
)

FEATURES = {"glucose": 148.0, "bmi": 33.6, "age": 50.0, "insulin": math.nan}


def test_features_sealed_for_one_patient_open_with_its_key_only() -> None:
    key = new_data_key()
    sealed = seal_features(key, "ref-a", FEATURES)
    assert b"148" not in sealed and b"glucose" not in sealed  # nothing readable at rest
    opened = open_features(key, "ref-a", sealed)
    assert opened.keys() == FEATURES.keys() and opened["bmi"] == 33.6
    assert math.isnan(opened["insulin"])
    with pytest.raises(SealError):
        open_features(new_data_key(), "ref-a", sealed)  # another patient's key
    with pytest.raises(SealError):
        open_features(key, "ref-b", sealed)  # passed off as another patient's
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealError):
        open_features(key, "ref-a", tampered)


def test_each_seal_draws_a_fresh_nonce() -> None:
    key = new_data_key()
    one, two = seal_features(key, "r", FEATURES), seal_features(key, "r", FEATURES)
    assert one[:NONCE_BYTES] != two[:NONCE_BYTES] and one != two


def test_a_wrapped_key_opens_under_its_key_encryption_key_and_patient_only() -> None:
    kek = key_encryption_key(b"the deployment's secret")
    assert len(kek) == 32 and kek == key_encryption_key(b"the deployment's secret")
    data_key = new_data_key()
    wrapped = wrap_key(kek, "ref-a", data_key)
    assert data_key not in wrapped
    assert unwrap_key(kek, "ref-a", wrapped) == data_key
    with pytest.raises(SealError) as caught:
        unwrap_key(key_encryption_key(b"another secret"), "ref-a", wrapped)
    assert caught.value.hint
    with pytest.raises(SealError):
        unwrap_key(kek, "ref-b", wrapped)


def test_a_key_id_names_a_key_without_revealing_it() -> None:
    key = new_data_key()
    assert key_id(key) == key_id(key) and len(key_id(key)) == 16
    assert key_id(key) != key_id(new_data_key())
    assert key.hex()[:16] != key_id(key)


@pytest.mark.parametrize(
    ("key", "value"),
    [(b"patient-1", b"\x00\x01bytes"), (None, b"no key"), (b"k", None), (None, None), (b"", b"")],
)
def test_a_dead_letters_original_comes_back_byte_for_byte(
    key: bytes | None, value: bytes | None
) -> None:
    data_key = new_data_key()
    sealed = seal_original(data_key, "ref-a", key, value)
    assert open_original(data_key, "ref-a", sealed) == (key, value)
    if value:
        assert value not in sealed
    with pytest.raises(SealError):
        open_original(data_key, "ref-b", sealed)
