"""Which variant serves a patient (pure): the champion, or the challenger for a stable share.

A patient's place in the split is a hash of the patient's pseudonymous reference (what the
predictions carry, so the split can be checked downstream) read as a number in [0, 1): the
challenger serves the patients below ``RISKSTREAM_SPLIT``. hashlib, not Python's salted
``hash``, so every scorer process and every restart puts a patient on the same side; a new
pseudonym key draws the split anew.
"""

from __future__ import annotations

import hashlib

CHAMPION_VARIANT = "champion"
CHALLENGER_VARIANT = "challenger"


def split_point(patient_ref: str) -> float:
    """The patient's position in [0, 1), uniform over patients."""
    digest = hashlib.blake2b(patient_ref.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def serving_variant(patient_ref: str, split: float) -> str:
    """``challenger`` for the share ``split`` of patients, else ``champion``."""
    return CHALLENGER_VARIANT if split_point(patient_ref) < split else CHAMPION_VARIANT
