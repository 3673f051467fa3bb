"""Replays labeled examples from Kafka for retraining, with their offsets as lineage.

It reads with the tools' reader (``assign()``, no commits), so it never disturbs a consumer
group.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskstream.kafka.reading import messages
from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.events import LabeledExample
from riskstream.settings import Settings
from riskstream.topics import LABELED_EXAMPLES


@dataclass
class LabeledBatch:
    examples: list[LabeledExample]
    ranges: dict[int, tuple[int, int]]  # partition → (first offset, last offset) read
    undecodable: int

    def lineage(self, topic: str) -> str:
        parts = [f"{topic}[{p}]:{lo}-{hi}" for p, (lo, hi) in sorted(self.ranges.items())]
        return ",".join(parts) or f"{topic}: none"


def read_labeled_examples(
    settings: Settings, codec: AvroCodec, start_ms: int | None, end_ms: int | None
) -> LabeledBatch:
    """Every labeled example with ``start_ms <= event_time < end_ms`` present now."""
    topic = settings.topic(LABELED_EXAMPLES.name)
    examples: list[LabeledExample] = []
    ranges: dict[int, tuple[int, int]] = {}
    undecodable = 0
    start = start_ms if start_ms is not None else "beginning"
    for message in messages(settings, topic, start):
        try:
            example = codec.decode_event(message.value(), LabeledExample)
        except CodecError:
            undecodable += 1
            continue
        if end_ms is not None and example.event_time >= end_ms:
            continue
        if start_ms is not None and example.event_time < start_ms:
            continue
        examples.append(example)
        partition, offset = int(message.partition() or 0), int(message.offset() or 0)
        lo, hi = ranges.get(partition, (offset, offset))
        ranges[partition] = (min(lo, offset), max(hi, offset))
    return LabeledBatch(examples, ranges, undecodable)
