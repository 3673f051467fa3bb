"""Reading the dead-letter topic as an operator: why inputs were rejected and where they came
from, with the original bytes masked unless asked for.

A dead letter keeps its input byte for byte (nothing is lost), and the input is health data:
a patient record's id and lab values, a label's patient id. So what a person sees by default
is each original's size and a short SHA-256 prefix (enough to tell two letters apart, or to
match one against a file), never its content; at rest the original is sealed under its
patient's data key. ``show_values`` opens and decodes the original (an Avro event of
riskstream's, else its bytes as text): for an operator fixing a clinic's feed, with the
key-encryption key. A forgotten patient's originals cannot be shown.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import DEAD_LETTER
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.io.kafka.reading import Start, read_events
from riskstream.schemas import CodecError
from riskstream.schemas.codec import AvroCodec
from riskstream.schemas.events import DeadLetter

DIGEST_CHARS = 12
FORGOTTEN = "<unreadable: the patient was forgotten>"
KEYS_READ = 10_000_000  # --show-values: every key, for a command that runs once


def masked(original: bytes | None) -> str:
    """What a person sees of an original by default: its size and digest prefix."""
    if original is None:
        return "-"
    digest = hashlib.sha256(original).hexdigest()[:DIGEST_CHARS]
    return f"<{len(original)} bytes, sha256 {digest}>"


def revealed(original: bytes | None, codec: AvroCodec) -> str:
    """An original as readable text: the Avro event it encodes, else its bytes as UTF-8
    (undecodable bytes escaped)."""
    if original is None:
        return "-"
    try:
        event_type, fields = codec.decode_any(original)
    except CodecError:
        return original.decode("utf-8", errors="backslashreplace")
    return f"{event_type} {json.dumps(fields, default=_plain, sort_keys=True)}"


def _plain(value: object) -> str:
    """JSON for what Avro decodes and JSON lacks (bytes of a nested original)."""
    if isinstance(value, bytes):
        return masked(value)
    return str(value)


@dataclass(frozen=True)
class ShownDeadLetter:
    """A dead letter as a command shows it: every field but the originals as they are."""

    letter: DeadLetter
    key: str
    value: str

    def json_line(self) -> str:
        """One line of ``--output jsonl``: the letter's fields with the originals as shown."""
        fields = self.letter.to_avro()
        fields["original_key"], fields["original_value"] = self.key, self.value
        fields["sealed_original"] = masked(self.letter.sealed_original)
        return json.dumps(fields)


def read_dead_letters(
    settings: ClusterSettings,
    start: Start = "beginning",
    *,
    reason: str | None = None,
    show_values: bool = False,
    limit: int | None = None,
    skipped: Counter[str] | None = None,
) -> Iterator[ShownDeadLetter]:
    """The dead letters from ``start`` whose reason starts with ``reason``, originals masked
    unless ``show_values``; at most ``limit``."""
    codec = codec_for(settings)
    topic = settings.topic(DEAD_LETTER.name)
    keyring = PatientKeyring(settings, capacity=KEYS_READ) if show_values else None
    try:
        yield from _shown(settings, topic, codec, keyring, start, reason, limit, skipped)
    finally:
        if keyring is not None:
            keyring.close()


def _shown(
    settings: ClusterSettings,
    topic: str,
    codec: AvroCodec,
    keyring: PatientKeyring | None,
    start: Start,
    reason: str | None,
    limit: int | None,
    skipped: Counter[str] | None,
) -> Iterator[ShownDeadLetter]:
    shown = 0
    for letter in read_events(settings, topic, DeadLetter, start, skipped=skipped):
        if reason is not None and not letter.reason.startswith(reason):
            continue
        if keyring is not None:
            opened = _opened(keyring, letter)
            if opened is None:  # the patient was forgotten: nothing to show, ever
                key = value = FORGOTTEN
            else:
                key, value = (
                    revealed(opened.original_key, codec),
                    revealed(opened.original_value, codec),
                )
        elif letter.sealed_original is not None:
            key, value = "-", f"sealed {masked(letter.sealed_original)}"
        else:
            key, value = masked(letter.original_key), masked(letter.original_value)
        yield ShownDeadLetter(letter, key, value)
        shown += 1
        if limit is not None and shown >= limit:
            return


def _opened(keyring: PatientKeyring, letter: DeadLetter) -> DeadLetter | None:
    """The letter with its original opened; the keys are read on the first sealed letter,
    and again for a key made since."""
    if letter.sealed_original is None:
        return letter
    if not keyring.knows(letter.patient_ref or "", letter.original_key_id):
        keyring.refresh()
    return keyring.open_letter(letter)
