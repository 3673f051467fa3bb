"""When every scorer serves a promoted version, read off the predictions topic.

Each partition of `predictions` is written by the one scorer of the group that owns it, so
the last partition to carry a new version dates the last scorer's switch. The console's
counter hands each prediction's partition, version and timestamp here while a promotion it
saw is being watched, and only then (decoding every prediction would cost the console as
much as a scorer's encoding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

WATCH_MS = 120_000  # a version not yet on every partition after this is no longer watched


@dataclass
class SwapWatch:
    partitions: int = 0
    switched: dict[str, int] = field(default_factory=dict)  # version → ms the last one did
    _version: str | None = None
    _since_ms: int = 0
    _first: dict[int, int] = field(default_factory=dict)  # partition → first ms of it

    @property
    def watching(self) -> str | None:
        return self._version

    def promoted(self, version: str, at_ms: int) -> None:
        """Watch for ``version`` on every partition, from its promotion at ``at_ms``."""
        if version in self.switched:
            return
        self._version, self._since_ms, self._first = version, at_ms, {}

    def seen(self, partition: int, version: str, at_ms: int) -> None:
        """One prediction; the watch ends once every partition carried the version, or after
        WATCH_MS (a partition no traffic reaches never would)."""
        if self._version is None:
            return
        if at_ms - self._since_ms > WATCH_MS:
            self._version = None
            return
        if version == self._version:
            self._first.setdefault(partition, at_ms)
        if self.partitions and len(self._first) >= self.partitions:
            self.switched[self._version] = max(self._first.values())
            self._version = None
