"""BENCHMARKS.md is the rendering of one results file: its table reads every figure against
its bar."""

from __future__ import annotations

from bench.common import REPO
from bench.report import _gradual_row, _soak_rows, render
from tests.unit.bench import latest_full


def test_benchmarks_md_is_the_report_of_the_latest_run() -> None:
    """Prose and table cannot disagree: both are rendered from one results file, and the
    committed BENCHMARKS.md is exactly that rendering."""
    results, source = latest_full()
    assert (REPO / "BENCHMARKS.md").read_text() == render(results, source)  # type: ignore[arg-type]


def test_a_soak_peak_row_is_missed_over_300_mb() -> None:
    soak = {
        "records": 10,
        "growth": {},
        "samples": [],
        "peak_rss_mb": {"joiner": 286.0, "trainer": 287.0},
    }
    rows = _soak_rows(soak)
    assert rows[0].endswith("| 286 MiB | <= 300 MB | met |")  # 286 MiB = 299.9 MB
    assert rows[1].endswith("| 287 MiB | <= 300 MB | **missed** |")  # 300.9 MB


def test_the_gradual_bar_takes_riskstreams_fastest_detector_against_adwin() -> None:
    def stream(**delays: int | None) -> dict[str, object]:
        return {
            name.replace("_", " "): {"detected": d is not None, "delay_records": d}
            for name, d in delays.items()
        }

    slow = stream(riskstream_drift_monitor=6500, riskstream_sequential=10200)
    slow["river ADWIN per feature"] = {"detected": True, "delay_records": 3036}
    assert _gradual_row(slow).endswith(
        "(drift monitor) | 6,500 rec | <= ADWIN's (3,036 rec) | **missed** |"
    )
    fast = stream(riskstream_drift_monitor=6500, riskstream_sequential=3000)
    fast["river ADWIN per feature"] = {"detected": True, "delay_records": 3036}
    assert _gradual_row(fast).endswith("(sequential) | 3,000 rec | <= ADWIN's (3,036 rec) | met |")
    blind = stream(riskstream_drift_monitor=None)
    blind["river ADWIN per feature"] = {"detected": True, "delay_records": 3036}
    assert "| missed | <= ADWIN's (3,036 rec) | **missed** |" in _gradual_row(blind)
