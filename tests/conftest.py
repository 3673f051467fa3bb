"""Marks everything under tests/integration as needing the real stack, and orders the suite
longest first for the parallel workers (pytest-xdist, ``-n 2 --dist loadgroup`` in
pyproject.toml): xdist hands each worker a test when it has two or fewer waiting, in this
order, so the two finish within a short test of each other instead of one waiting while the
other runs the demo at the end. A module whose tests share a costly module fixture keeps
them on one worker with ``pytest.mark.xdist_group`` (xdist puts such groups first; pytest is
held below 9.2, where xdist 3.8 stops grouping: pyproject.toml)."""

from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent / "integration"
# the modules whose tests run longest, longest first (durations of a 2-worker run on a 2-core
# machine, 2026-12-02: the demo about 110 s, each benchmark group 30-180 s, the SIGKILL and
# fault tests 40-100 s); every other integration module follows, then the unit tests
LONGEST_FIRST = (
    "test_demo.py",
    "test_bench_smoke.py",
    "test_faults.py",
    "test_security.py",
    "test_shadow.py",
    "test_scorer.py",
    "test_canary.py",
    "test_trainer.py",
    "test_model_cli.py",
    "test_estimation.py",
    "test_drift_trust.py",
    "test_console.py",
)


def _order(item: pytest.Item) -> tuple[int, int]:
    path = Path(str(item.fspath))
    if INTEGRATION not in path.parents:
        return (2, 0)
    if path.name in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(path.name))
    return (1, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
    items.sort(key=_order)  # stable: within a module, the file's own order
