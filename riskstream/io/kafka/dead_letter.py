"""Dead letters: an unusable input, kept byte for byte with where it came from and why."""

from __future__ import annotations

from confluent_kafka import Message

from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.events import Consumed, DeadLetter


def consumed(message: Message) -> Consumed:
    """A confluent-kafka message as the processors see it."""
    return Consumed(
        message.key(),
        message.value(),
        message.topic() or "",
        int(message.partition() or 0),
        int(message.offset() or 0),
        int(message.timestamp()[1]),
    )


def dead_letter(message: Message, processor: str, reason: str, detail: str) -> DeadLetter:
    """The DeadLetter event for one consumed message. ``detail`` must name fields only."""
    return DeadLetter.of(consumed(message), processor, reason, detail)


def record_source(codec: AvroCodec, original: bytes | None) -> str | None:
    """The clinic of a rejected PatientRecord, when its bytes still decode (an out-of-range
    value does; a corrupt message has no source to read, and counts for the stream)."""
    try:
        source = codec.decode(original, "PatientRecord").get("source")
    except CodecError:
        return None
    return source if isinstance(source, str) else None
