"""The probability-integral transform (PIT) of a reference histogram: what the sequential
tests (``sequential.py``, ``trend.py``) score each value by. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PIT_SCALE = 10_000  # PIT scores are summed as integers: u x PIT_SCALE, rounded


@dataclass(frozen=True)
class PitReference:
    """A reference histogram's PIT: each bin's integer score, the mean and variance of
    ``u`` under the reference, and the reference's size."""

    scores: tuple[int, ...]  # u_b x PIT_SCALE per bin
    mean: float
    variance: float
    n: int

    @classmethod
    def of(cls, counts: Sequence[int]) -> PitReference | None:
        """None for a reference without two occupied bins (no spread, no test)."""
        values = np.asarray(counts, dtype=float)
        total = float(values.sum())
        if total <= 0 or np.count_nonzero(values) < 2:
            return None
        shares = values / total
        u = np.cumsum(shares) - shares / 2
        scores = tuple(int(np.rint(x * PIT_SCALE)) for x in u)
        s = np.asarray(scores, dtype=float) / PIT_SCALE
        mean = float(np.sum(shares * s))
        return cls(scores, mean, float(np.sum(shares * (s - mean) ** 2)), int(total))

    def pit_sum(self, bins: np.ndarray) -> int:
        """The integer PIT sum of values in reference bins ``bins``."""
        return int(np.asarray(self.scores, dtype=np.int64)[bins].sum()) if len(bins) else 0

    def z(self, n: int, pit_sum: int) -> float:
        """The standardized PIT mean of ``n`` values whose scores add up to ``pit_sum``."""
        mean = pit_sum / PIT_SCALE / n
        return (mean - self.mean) / math.sqrt(self.variance / n + self.variance / self.n)
