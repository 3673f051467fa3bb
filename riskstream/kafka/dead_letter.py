"""Dead letters: an unusable input, kept byte for byte with where it came from and why."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from riskstream.kafka.clients import new_id, now_ms


def dead_letter(message: Message, processor: str, reason: str, detail: str) -> dict[str, Any]:
    """The DeadLetter event for one consumed message. ``detail`` must name fields only."""
    key = message.key()
    value = message.value()
    return {
        "dead_letter_id": new_id(),
        "event_time": now_ms(),
        "processor": processor,
        "reason": reason,
        "detail": detail,
        "source_topic": message.topic() or "",
        "source_partition": int(message.partition() or 0),
        "source_offset": int(message.offset() or 0),
        "original_key": key if isinstance(key, bytes) else None,
        "original_value": value if isinstance(value, bytes) else None,
    }
