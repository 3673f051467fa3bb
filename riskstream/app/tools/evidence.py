"""`riskstream model evidence`: champion against challenger on the labeled records both of
them scored (the challenger in shadow, or serving its share of the split)."""

from __future__ import annotations

from dataclasses import dataclass

from riskstream.core.worker_slices import MonitoringSettings
from riskstream.io.kafka.reading import Start
from riskstream.models.monitoring.live_evidence import LiveEvidence, live_evidence
from riskstream.stream_processors.referee import read_pairs


@dataclass(frozen=True)
class EvidenceRead:
    examples: int  # labeled examples read
    paired: int  # of them, with both variants' scores
    undecodable: int
    evidence: list[LiveEvidence]


def read_evidence(settings: MonitoringSettings, start: Start = "beginning") -> EvidenceRead:
    read, undecodable, pairs = read_pairs(settings, start)
    return EvidenceRead(read, len(pairs), undecodable, live_evidence(pairs))
