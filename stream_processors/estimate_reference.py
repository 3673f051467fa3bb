"""Each model version's reference period for estimating performance before labels: its first
``estimate_reference_size`` labeled examples on the stream, counted per (label, score bin) in
Redis (``estimation`` says why). The performance monitor fills it; both monitors read it.

Counts are exact, as in every window store (compare-and-set on the last applied offset per
partition). Once complete it is frozen: examples past the size (up to one batch per worker
may overshoot) are not added. Redis keeps nothing on disk: after a restart the reference is
gathered again from the next examples.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskstream.settings import Settings
from riskstream.stream_processors.estimation import reference_fields, reference_probability
from riskstream.stream_processors.window_store import WindowStore

log = logging.getLogger(__name__)
REFERENCE = 0  # the one "window" of a version's reference store


@dataclass(frozen=True)
class ReferenceExample:
    offset: int
    risk: float
    label: int


class EstimateReferences:
    def __init__(self, settings: Settings) -> None:
        self.store = WindowStore(settings, kind="reference")
        self.size = settings.estimate_reference_size
        self._probability: dict[str, np.ndarray] = {}  # versions whose reference is complete

    def add(self, version: str, partition: int, examples: Sequence[ReferenceExample]) -> None:
        """Count ``examples`` (offset order) into ``version``'s reference unless it is full."""
        if version in self._probability or self._count(version) >= self.size:
            return
        self.store.add_new(
            version,
            REFERENCE,
            partition,
            examples,
            lambda e: e.offset,
            lambda fresh: (
                reference_fields((e.risk, e.label) for e in fresh) + Counter(n=len(fresh))
            ),
            self._restarted,
        )

    def probability(self, version: str) -> np.ndarray | None:
        """P(positive) per score bin of ``version``'s reference; None until it is complete."""
        if version not in self._probability:
            raw = self.store.counts(version, REFERENCE)
            counts = {k.decode(): int(v) for k, v in raw.items()}
            found = reference_probability(counts, self.size)
            if found is None:
                return None
            self._probability[version] = found
            log.info("estimates of version %s are calibrated on its reference", version)
        return self._probability[version]

    def _count(self, version: str) -> int:
        value = self.store.redis.hget(self.store.window_key(version, REFERENCE), "n")
        return int(value) if value is not None else 0

    def _restarted(self) -> None:
        log.warning("Redis restarted: estimate references are gathered again")
