"""The bars of issue #29 that the report reads figures against, and how a worker's peak
memory is read from a soak's results."""

from __future__ import annotations

from typing import Any

CA_BAR = 0.1  # the scorer's rate per process against the raw passthrough (issue #29)
SCALE_OUT_BAR = 1.7  # 2 processes against 1
RSS_BAR_MIB = 300 / 1.048576  # peak RSS of each worker: 300 MB
CHILDREN = "_children"  # a soak peak's key suffix: the worker's largest child process


def soak_peaks(s: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Each worker's peak RSS over the soak: VmHWM read at its end, or for runs before
    2026-12-05 the largest of the 10 s samples (a lower bound of the peak)."""
    if "peak_rss_mb" in s:
        return {name: (mb, "VmHWM") for name, mb in s["peak_rss_mb"].items()}
    names = s["samples"][0]["rss_mb"] if s["samples"] else {}
    return {n: (max(x["rss_mb"][n] for x in s["samples"]), "largest sample") for n in names}
