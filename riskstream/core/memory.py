"""Hand the C heap's free pages back to the operating system.

A worker that briefly holds a large working set (the trainer's 50,000 decoded examples and
their frames) frees it, but glibc keeps the freed pages in its arenas, so the process's
resident size stays at its high-water mark and creeps up as fragments accumulate.
``malloc_trim(0)`` returns every arena's free pages. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:  # find_library gives None when it cannot tell; the process's own symbols then
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_free_memory() -> bool:
    """Return freed heap pages to the OS; True when the C library could (glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
