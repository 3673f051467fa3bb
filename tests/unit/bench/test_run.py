"""A re-run of some benchmarks merged into an earlier run's results."""

from __future__ import annotations

from bench.report import _rerun_on
from bench.run import merged

AMD = {"cores": 2, "cpu": "AMD EPYC", "python": "3.11.7"}
XEON = {"cores": 2, "cpu": "Intel Xeon", "python": "3.11.7"}


def test_rerun_sections_replace_the_earlier_ones_and_the_seconds_add_up() -> None:
    earlier = {"machine": AMD, "seconds": 100.0, "throughput": 1, "latency": 2}
    rerun = {"machine": AMD, "seconds": 10.0, "throughput": 3, "latency": 4}
    result = merged(earlier, rerun, {"throughput"})
    assert result["throughput"] == 3 and result["latency"] == 2
    assert result["seconds"] == 110.0 and result["machine"] == AMD
    assert "rerun_on" not in result


def test_a_section_rerun_on_another_cpu_names_it_until_rerun_on_the_runs_own() -> None:
    earlier = {"machine": AMD, "seconds": 100.0, "throughput": 1, "latency": 2}
    moved = merged(earlier, {"machine": XEON, "seconds": 10.0, "throughput": 3}, {"throughput"})
    assert moved["machine"] == AMD
    assert moved["rerun_on"] == {"throughput": {"cpu": "Intel Xeon", "cores": 2}}
    assert _rerun_on(moved) == " Re-run on 2 cores (Intel Xeon): throughput."
    back = merged(moved, {"machine": AMD, "seconds": 5.0, "throughput": 5}, {"throughput"})
    assert "rerun_on" not in back and _rerun_on(back) == ""
