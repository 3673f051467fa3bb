"""Bounded history for long-running workers: the latest N entries, the oldest dropped.

Workers keep what they did recently for their health endpoint and for tests; anything a
user needs over time is on a topic. Unbounded lists grew a worker's memory with every
window it closed.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

KEEP = 512  # windows, alerts or requests a worker remembers


def recent_list(keep: int = KEEP) -> deque[T]:
    """A list that keeps its latest ``keep`` items."""
    return deque(maxlen=keep)


class RecentDict(OrderedDict[K, V]):
    """A dict that keeps its latest ``keep`` insertions (a re-inserted key counts as new)."""

    def __init__(self, keep: int = KEEP) -> None:
        super().__init__()
        self.keep = keep

    def __setitem__(self, key: K, value: V) -> None:
        if key in self:
            self.move_to_end(key)
        super().__setitem__(key, value)
        while len(self) > self.keep:
            self.popitem(last=False)
