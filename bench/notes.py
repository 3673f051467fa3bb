"""``bench/NOTES.md``, the hand-written analysis, with this run's figures put in: each
``{{path:format}}`` is read from the same results as the tables, so prose and table cannot
disagree."""

from __future__ import annotations

import re
from typing import Any

from bench.bars import CA_BAR, RSS_BAR_MIB, soak_peaks
from bench.common import REPO

NOTES = REPO / "bench" / "NOTES.md"
# {{throughput.ratio_c_over_a:.3f}} in NOTES.md: a figure of this run, put in the prose from
# the same results as the tables, so the two cannot disagree
PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*(?::([^}]*))?\}\}")


def derived(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Figures the prose names that no section stores as such (verdicts, gaps, ranges), under
    the section they come from: ``derived.throughput.ca_shortfall``."""
    out: dict[str, dict[str, Any]] = {}
    p = r.get("patient_data")
    if p and p["median_rps"]["sealed"] and p["median_rps"]["unsealed"]:
        per = {k: 1e6 / p["median_rps"][k] for k in ("sealed", "unsealed")}
        out["patient_data"] = {"added_us": per["sealed"] - per["unsealed"]}
    t = r.get("throughput")
    if t:
        m, runs = t["median_rps"], t["runs"]
        worst = max(t.get("peak_rss_mb", {}).values(), default=0.0)
        out["throughput"] = {
            "scorer_over": {k: m["riskstream"] / v for k, v in m.items() if v},
            "ca_shortfall": CA_BAR / t["ratio_c_over_a"] if t["ratio_c_over_a"] else 0.0,
            "ca_verdict": "met" if t["ratio_c_over_a"] >= CA_BAR else "missed",
            "monitoring_verdict": "met" if t["monitoring_ratio"] >= 0.9 else "missed",
            "rss_verdict": "met" if worst <= RSS_BAR_MIB else "missed",
            "runs_k": {
                k: f"{min(v) / 1000:.1f}-{max(v) / 1000:.1f}k" for k, v in runs.items() if v
            },
        }
    s = r.get("soak")
    if s:
        over = sorted(n for n, (mb, _) in soak_peaks(s).items() if mb > RSS_BAR_MIB)
        out["soak"] = {
            "rss_verdict": "missed" if over else "met",
            "rss_over": ", ".join(over) or "no worker",
        }
    b = r.get("backtest")
    if b:
        rps = b["one_version"]["records_per_second"]
        out["backtest"] = {
            "backtest_verdict": "met" if rps >= 50_000 else "missed",
            "backtest_shortfall_pct": max(0.0, 100 * (1 - rps / 50_000)),
        }
    return out


def _lookup(tree: dict[str, Any], path: str) -> Any:
    value: Any = tree
    for part in path.split("."):
        value = value[part]
    return value


# the sections that have derived figures (derived.<section>.<name>)
DERIVED_SECTIONS = ("throughput", "backtest", "patient_data", "soak")
NOT_MEASURED = "(not measured in this run)"


def _section_of(path: str) -> str:
    head, _, rest = path.partition(".")
    if head != "derived":
        return head
    section = rest.split(".")[0]
    if section not in DERIVED_SECTIONS:
        raise ValueError(f"bench/NOTES.md names {path}, which the report does not derive")
    return section


def fill_notes(text: str, r: dict[str, Any]) -> str:
    """The notes with each ``{{path:format}}`` replaced by that figure of the results (or of
    :func:`derived`, under ``derived.``). A figure of a section this run did not measure (a
    ``--only`` run), or any figure a smoke run lacks, reads "not measured"; a path a full
    run's measured section lacks is an error, not a blank."""
    tree = {**r, "derived": derived(r)}
    strict = r.get("mode", "full") == "full"  # a smoke run's sizes differ (latency at 200/s)

    def figure(match: re.Match[str]) -> str:
        path, spec = match.group(1), (match.group(2) or "").strip()
        if _section_of(path) not in r:
            return NOT_MEASURED
        try:
            value = _lookup(tree, path)
        except (KeyError, TypeError):
            if not strict:
                return NOT_MEASURED
            raise ValueError(f"bench/NOTES.md names {path}, which these results lack") from None
        return format(value, spec)

    return PLACEHOLDER.sub(figure, text)
