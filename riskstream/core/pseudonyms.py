"""Pseudonymous patient references: what every topic and key riskstream writes carries in
place of a patient id.

A reference is HMAC-SHA256 of the id under a secret key (``RISKSTREAM_PSEUDONYM_KEY``), as 32
hex digits (128 bits): the same patient gets the same reference under one key, so joins,
segments and backtests work on it, and without the key an id cannot be found from its
reference, nor a reference from a guessed id (a plain hash of a short id could be reversed
by trying every id). A person with the key finds one patient's predictions by computing the
reference (``riskstream predictions --patient ID``).

Rotating the key: set the new key in ``RISKSTREAM_PSEUDONYM_KEY`` and the old one in
``RISKSTREAM_PSEUDONYM_PREVIOUS_KEYS``; records written from then on carry references under
the new key, the old ones keep theirs until retention removes them, and a lookup tries every
key. Drop the old key once the longest retention has passed.

The local stack (a broker on this machine) makes a random key under the state dir the first
time one is needed; any other deployment must set one.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from riskstream.core.local_secrets import local_secret
from riskstream.core.slices import ClusterSettings

KEY_FILE = "pseudonym.key"
REF_HEX = 32


def patient_ref(key: bytes, patient_id: str) -> str:
    """The pseudonymous reference of ``patient_id`` under ``key``."""
    mac = _keyed(key).copy()  # the key's HMAC state, set up once: 2.7 us, not 7.9 us per id
    mac.update(patient_id.encode("utf-8"))
    return mac.hexdigest()[:REF_HEX]


def keyed_ref(key: bytes, message_key: bytes | None) -> str | None:
    """The reference of the patient a clinic's message key names (the clinics' topics are
    keyed by patient id); None for a message with no key."""
    return patient_ref(key, message_key.decode("utf-8", "replace")) if message_key else None


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def pseudonym_key(settings: ClusterSettings) -> bytes:
    """The deployment's key: the setting, else the local stack's key file (made on first
    use where every broker is on this machine); a ConfigError otherwise."""
    return local_secret(settings, settings.pseudonym_key, KEY_FILE, "RISKSTREAM_PSEUDONYM_KEY")


def previous_keys(settings: ClusterSettings) -> list[bytes]:
    """Keys rotated out, which lookups still try (RISKSTREAM_PSEUDONYM_PREVIOUS_KEYS)."""
    text = settings.pseudonym_previous_keys.get_secret_value()
    return [k.strip().encode("utf-8") for k in text.split(",") if k.strip()]
