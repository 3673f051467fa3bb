"""The shape the architecture asks of the code (docs/architecture.md), checked on every run:
functions short enough to read whole, and constructors that only assign, so nothing happens
until a worker is started."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("riskstream", "stream_processors", "models", "producers", "schemas")
MAX_LINES = 60
# calls a constructor must not make: they connect, subscribe, start or open something
ACTING_CALLS = {
    "connect",
    "start",
    "idempotent_producer",
    "transactional_producer",
    "group_consumer",
    "reader",
    "subscribe",
    "assign",
    "mkdir",
    "MlflowClient",
    "set_tracking_uri",
}
# the composition roots: they read the whole settings and hand each worker its slice
WHOLE_SETTINGS = {
    "riskstream/app/cli",
    "riskstream/app/closed_loop.py",
    "riskstream/app/demo_runs.py",
    "riskstream/app/console/app.py",
    "riskstream/app/console/server.py",
    "riskstream/app/stack/manager.py",
    "riskstream/core/settings.py",
}


def _modules() -> list[Path]:
    found: list[Path] = []
    for package in PACKAGES:
        found += sorted(p for p in (ROOT / package).rglob("*.py") if p.resolve().is_relative_to(
            (ROOT / package).resolve()))  # fmt: skip
    return found


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(), str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_the_modules_are_found() -> None:
    assert len(_modules()) > 100


def test_no_function_is_over_sixty_lines() -> None:
    """The product's and the tests' (a scenario test reads as its steps, each a helper);
    only bench/ is left out."""
    tests = sorted((ROOT / "tests").rglob("*.py"))
    assert len(tests) > 50
    long = [
        f"{path.relative_to(ROOT)}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)"
        for path in [*_modules(), *tests]
        for f in _functions(path)
        if (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_LINES
    ]
    assert long == []


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def test_constructors_connect_to_nothing_and_start_nothing() -> None:
    """A worker, a publisher or a reader is built, then started: building one does no I/O."""
    acting = [
        f"{path.relative_to(ROOT)}:{call.lineno} {name}()"
        for path in _modules()
        for f in _functions(path)
        if f.name == "__init__"
        for call in ast.walk(f)
        if isinstance(call, ast.Call) and (name := _called_name(call)) in ACTING_CALLS
    ]
    assert acting == []


def test_only_the_composition_roots_take_the_whole_settings() -> None:
    """Everything else names the slice it reads (riskstream.core.slices, .worker_slices), so
    mypy holds a worker to its own settings."""
    importing = {
        str(path.relative_to(ROOT))
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module == "riskstream.core.settings"
        and any(alias.name == "Settings" for alias in node.names)
    }
    assert importing, "the scan found no module: it is broken"
    assert {p for p in importing if not any(p.startswith(root) for root in WHOLE_SETTINGS)} == set()
