"""Per-patient encryption of feature values at rest, so that erasing a patient is deleting
one key (crypto-shredding).

Every patient (by reference) gets a random 256-bit data key. Feature values in the
long-lived topics are sealed under it with AES-GCM, the patient's reference as associated
data, so a sealed value cannot be passed off as another patient's. A data key is stored only
wrapped: sealed with AES-GCM under the deployment's key-encryption key
(``RISKSTREAM_KEY_ENCRYPTION_KEY``). Once a data key is deleted, what was sealed under it
cannot be read by anyone, the operators included. Pure functions, no I/O: the keys' store is
:mod:`riskstream.io.kafka.patient_keys`.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from riskstream.core.errors import RiskstreamError

NONCE_BYTES = 12  # AES-GCM's standard nonce; random per seal (2^32 seals per key stay safe)
KEY_BYTES = 32
KEY_ID_HEX = 16
ORIGINAL_SIZES = struct.Struct(">ii")  # a dead letter's key and value sizes (-1: none)


class SealError(RiskstreamError):
    """A sealed value or a wrapped key that does not open: the wrong key, or tampered bytes."""


def key_encryption_key(secret: bytes) -> bytes:
    """The AES-256 key-encryption key derived from the configured secret (any length)."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"riskstream kek")
    return kdf.derive(secret)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def key_id(data_key: bytes) -> str:
    """A short public name of a data key (a hash that reveals nothing of the key)."""
    return hashlib.sha256(b"riskstream key id:" + data_key).hexdigest()[:KEY_ID_HEX]


def wrap_key(kek: bytes, patient_ref: str, data_key: bytes) -> bytes:
    """``data_key`` sealed under the key-encryption key, bound to its patient."""
    return _seal(kek, data_key, patient_ref)


def unwrap_key(kek: bytes, patient_ref: str, wrapped: bytes) -> bytes:
    """The data key inside ``wrapped``; a SealError if the key-encryption key is not the one
    it was wrapped with, or the bytes were changed."""
    return _open(kek, wrapped, patient_ref, "a patient's data key")


def seal_features(data_key: bytes, patient_ref: str, features: Mapping[str, float]) -> bytes:
    """``features`` as nonce + AES-GCM ciphertext (JSON inside: a few names and numbers)."""
    plain = json.dumps(dict(features), separators=(",", ":"), allow_nan=True).encode()
    return _seal(data_key, plain, patient_ref)


def open_features(data_key: bytes, patient_ref: str, sealed: bytes) -> dict[str, float]:
    """The feature values sealed by :func:`seal_features`."""
    values = json.loads(_open(data_key, sealed, patient_ref, "sealed features"))
    return {str(name): float(value) for name, value in values.items()}


def seal_original(
    data_key: bytes, patient_ref: str, key: bytes | None, value: bytes | None
) -> bytes:
    """A dead letter's original key and value, byte for byte, sealed as one."""
    sizes = ORIGINAL_SIZES.pack(
        -1 if key is None else len(key), -1 if value is None else len(value)
    )
    return _seal(data_key, sizes + (key or b"") + (value or b""), patient_ref)


def open_original(
    data_key: bytes, patient_ref: str, sealed: bytes
) -> tuple[bytes | None, bytes | None]:
    """The original key and value sealed by :func:`seal_original`."""
    plain = _open(data_key, sealed, patient_ref, "a sealed original")
    key_size, value_size = ORIGINAL_SIZES.unpack_from(plain)
    body = plain[ORIGINAL_SIZES.size :]
    key = None if key_size < 0 else body[:key_size]
    value = None if value_size < 0 else body[max(key_size, 0) : max(key_size, 0) + value_size]
    return key, value


def _seal(key: bytes, plain: bytes, patient_ref: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, patient_ref.encode())


def _open(key: bytes, sealed: bytes, patient_ref: str, what: str) -> bytes:
    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return AESGCM(key).decrypt(nonce, body, patient_ref.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealError(
            f"{what} did not open",
            hint="the key is not the one it was sealed with, or the bytes were changed",
        ) from exc
