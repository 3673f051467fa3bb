"""Event ids and wall-clock time: the two impure values that pure code is handed, kept out of
the Kafka plumbing so that scoring and alert policies need not import a client."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """128 random bits as 32 hex digits: as unique as a UUID4, at a tenth of the cost (the
    scorer makes one per prediction)."""
    return os.urandom(16).hex()


def new_ids(count: int) -> list[str]:
    """``count`` ids as :func:`new_id` makes them, from one read of the random source."""
    digits = os.urandom(16 * count).hex()
    return [digits[i : i + 32] for i in range(0, 32 * count, 32)]


def now_ms() -> int:
    return int(time.time() * 1000)
