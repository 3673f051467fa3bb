"""BENCHMARKS.md's prose takes this run's figures from the same results as its tables."""

from __future__ import annotations

import re

import pytest

from bench.bars import soak_peaks
from bench.notes import NOT_MEASURED, NOTES, PLACEHOLDER, fill_notes
from tests.unit.bench import latest_full

RESULTS = {
    "throughput": {
        "median_rps": {"riskstream": 20_000.0, "faust": 5_000.0, "raw": 400_000.0},
        "runs": {"riskstream": [19_000.0, 21_000.0]},
        "ratio_c_over_a": 0.05,
        "monitoring_ratio": 0.89,
    },
    "latency": {"loads": {"1000": {"p99_ms": 38.46}}},
}


def test_a_placeholder_takes_the_figure_with_its_format() -> None:
    text = "p99 {{latency.loads.1000.p99_ms:.1f}} ms, {{ throughput.median_rps.faust:,.0f }}/s"
    assert fill_notes(text, RESULTS) == "p99 38.5 ms, 5,000/s"


def test_derived_figures_gaps_verdicts_and_ranges() -> None:
    text = (
        "{{derived.throughput.scorer_over.faust:.1f}}x; "
        "short {{derived.throughput.ca_shortfall:.0f}}x; "
        "{{derived.throughput.monitoring_verdict}}; {{derived.throughput.runs_k.riskstream}}"
    )
    assert fill_notes(text, RESULTS) == "4.0x; short 2x; missed; 19.0-21.0k"


def test_a_figure_the_results_lack_is_an_error_that_names_it() -> None:
    with pytest.raises(ValueError, match=re.escape("throughput.median_rps.quix")):
        fill_notes("{{throughput.median_rps.quix}}", RESULTS)


def test_a_section_the_run_did_not_measure_reads_not_measured() -> None:
    """A ``--only`` run (the CI smoke runs one group at a time) still renders its report."""
    text = "{{backtest.one_version.records_per_second:,.0f}}; {{derived.backtest.backtest_verdict}}"
    assert fill_notes(text, RESULTS) == f"{NOT_MEASURED}; {NOT_MEASURED}"
    with pytest.raises(ValueError, match=re.escape("derived.nonsense")):  # a typo is still an error
        fill_notes("{{derived.nonsense}}", RESULTS)


def test_the_notes_name_only_figures_the_latest_run_has() -> None:
    results, _ = latest_full()
    assert PLACEHOLDER.search(NOTES.read_text()), "the notes quote no figure: the check is moot"
    assert "{{" not in fill_notes(NOTES.read_text(), results)


def test_a_soak_peak_over_300_mb_is_missed_in_the_prose_and_says_how_it_was_read() -> None:
    sampled = {"samples": [{"rss_mb": {"scorer": 250.0}}, {"rss_mb": {"scorer": 287.0}}]}
    assert soak_peaks(sampled) == {"scorer": (287.0, "largest sample")}
    assert soak_peaks({"peak_rss_mb": {"scorer": 286.0}}) == {"scorer": (286.0, "VmHWM")}
    soak = {
        "records": 10,
        "growth": {},
        "samples": [],
        "peak_rss_mb": {"joiner": 286.0, "trainer": 287.0},
    }
    assert (
        fill_notes("{{derived.soak.rss_verdict}}: {{derived.soak.rss_over}}", {"soak": soak})
        == "missed: trainer"
    )
