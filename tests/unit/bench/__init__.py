"""Shared by the bench tests: the newest committed full results, which BENCHMARKS.md and the
notes are rendered from."""

import json

from bench.common import REPO


def latest_full() -> tuple[dict[str, object], str]:
    """The newest ``bench/results/*-full.json`` and its path from the repository root."""
    newest = sorted((REPO / "bench" / "results").glob("*-full.json"))[-1]
    return json.loads(newest.read_text()), str(newest.relative_to(REPO))
