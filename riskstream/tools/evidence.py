"""`riskstream model evidence`: champion against challenger on the labeled records both of
them scored (the challenger in shadow, or serving its share of the split)."""

from __future__ import annotations

from dataclasses import dataclass

from riskstream.kafka.clients import codec_for
from riskstream.kafka.reading import Start, messages
from riskstream.schemas import CodecError
from riskstream.schemas.events import LabeledExample
from riskstream.settings import Settings
from riskstream.stream_processors.live_evidence import LiveEvidence, live_evidence, pair_of
from riskstream.topics import LABELED_EXAMPLES


@dataclass(frozen=True)
class EvidenceRead:
    examples: int  # labeled examples read
    paired: int  # of them, with both variants' scores
    undecodable: int
    evidence: list[LiveEvidence]


def read_evidence(settings: Settings, start: Start = "beginning") -> EvidenceRead:
    codec = codec_for(settings)
    pairs = []
    read = undecodable = 0
    for message in messages(settings, settings.topic(LABELED_EXAMPLES.name), start, None):
        read += 1
        try:
            example = codec.decode_event(message.value(), LabeledExample)
        except CodecError:
            undecodable += 1
            continue
        pair = pair_of(example)
        if pair is not None:
            pairs.append(pair)
    return EvidenceRead(read, len(pairs), undecodable, live_evidence(pairs))
