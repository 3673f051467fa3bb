import gc
import sys
import weakref
from pathlib import Path

import pytest

from riskstream.core.memory import freeze_startup_heap, release_free_memory


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and glibc")
def test_freed_heap_below_a_live_block_goes_back_to_the_os() -> None:
    # 125 MiB of 64 KiB blocks (under the mmap threshold: they live on the heap), then one
    # more that stays alive above them, so free() alone cannot shrink the heap
    blocks = [bytearray(64 * 1024) for _ in range(2000)]
    above = bytearray(64 * 1024)
    del blocks
    held = _rss_mib()
    assert release_free_memory() is True
    assert held - _rss_mib() > 60, "malloc_trim returned less than half of the freed 125 MiB"
    assert len(above) == 64 * 1024


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_the_startup_heap_is_frozen_and_later_cycles_are_still_collected() -> None:
    alive = _Node()
    try:
        frozen = freeze_startup_heap()
        assert frozen > 1000 and gc.get_freeze_count() > 1000  # threads may free some since
        assert not any(o is alive for o in gc.get_objects())  # out of the collector's walk
        later = _Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
