"""Replays labeled examples from Kafka for retraining, with their offsets as lineage.

It reads with ``assign()`` and commits nothing, so it never disturbs a consumer group.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from riskstream.settings import Settings
from riskstream.topics import LABELED_EXAMPLES
from schemas import AvroCodec, CodecError


@dataclass
class LabeledBatch:
    examples: list[dict[str, Any]]
    ranges: dict[int, tuple[int, int]]  # partition → (first offset, last offset) read
    undecodable: int

    def lineage(self, topic: str) -> str:
        parts = [f"{topic}[{p}]:{lo}-{hi}" for p, (lo, hi) in sorted(self.ranges.items())]
        return ",".join(parts) or f"{topic}: none"


def read_labeled_examples(
    settings: Settings,
    codec: AvroCodec,
    start_ms: int | None,
    end_ms: int | None,
    timeout: float = 30.0,
) -> LabeledBatch:
    """Every labeled example with ``start_ms <= event_time < end_ms`` present now."""
    topic = settings.topic(LABELED_EXAMPLES.name)
    consumer = Consumer(
        settings.kafka_config(
            {
                "group.id": f"riskstream-replay-{uuid.uuid4().hex}",  # never committed
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
            }
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        partitions = sorted(metadata.partitions)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
            for p in partitions
        }
        starts = [
            TopicPartition(topic, p, start_ms if start_ms is not None else 0) for p in partitions
        ]
        starts = consumer.offsets_for_times(starts, timeout=timeout)
        assignment = [
            tp if tp.offset >= 0 else TopicPartition(topic, tp.partition, OFFSET_END)
            for tp in starts
        ]
        pending = {
            tp.partition for tp in assignment if tp.offset >= 0 and tp.offset < ends[tp.partition]
        }
        consumer.assign([tp for tp in assignment if tp.partition in pending])
        examples: list[dict[str, Any]] = []
        ranges: dict[int, tuple[int, int]] = {}
        undecodable = 0
        deadline = time.monotonic() + 4 * timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1.0):
                partition, offset = int(message.partition() or 0), int(message.offset() or 0)
                if message.error():
                    pending.discard(partition)  # partition EOF
                    continue
                if offset >= ends[partition] - 1:
                    pending.discard(partition)
                if offset >= ends[partition]:
                    continue
                try:
                    example = codec.decode(message.value(), "LabeledExample")
                except CodecError:
                    undecodable += 1
                    continue
                event_ms = int(example["event_time"].timestamp() * 1000)
                if end_ms is not None and event_ms >= end_ms:
                    continue
                if start_ms is not None and event_ms < start_ms:
                    continue
                example["_partition"], example["_offset"] = partition, offset
                examples.append(example)
                lo, hi = ranges.get(partition, (offset, offset))
                ranges[partition] = (min(lo, offset), max(hi, offset))
        return LabeledBatch(examples, ranges, undecodable)
    finally:
        consumer.close()
