"""The Faust engine uses Faust's public API only: what reaches into Faust's internals is in
``riskstream.io.kafka.faust_app`` alone, where a test pins it."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from riskstream.core.settings import Settings
from riskstream.io.kafka import faust_app, faust_worker
from riskstream.io.ops import WorkerMetrics


def _foreign_private_attributes(path: Path) -> list[str]:
    """``x._name`` where ``x`` is not ``self``: another object's private member."""
    tree = ast.parse(path.read_text())
    return [
        f"{path.name}:{node.lineno} .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]


def test_the_engine_touches_no_private_attribute_of_faust() -> None:
    assert _foreign_private_attributes(Path(faust_worker.__file__)) == []


def test_the_check_finds_the_internals_where_they_are() -> None:
    found = _foreign_private_attributes(Path(faust_app.__file__))
    assert any("._committed_offset" in f for f in found), found


def test_ticks_wait_while_a_batch_waits_for_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """A monitor observes a batch's event times before it counts them: a tick between two
    tries would close their windows, and the retried batch would be counted late."""
    monkeypatch.setattr(faust_worker, "RETRY_S", 0.01)
    runtime = faust_worker.FaustRuntime(Settings(), "g", WorkerMetrics("test"))
    calls: list[str] = []
    away = [2]

    class Counting:
        def process(self, records: list[Any]) -> None:
            calls.append("process")
            if away[0]:
                away[0] -= 1
                raise redis.exceptions.ConnectionError("Redis is away")

        def tick(self) -> None:
            calls.append("tick")

    worker: Any = Counting()

    async def batch_then_ticks() -> None:
        applying = asyncio.create_task(runtime._apply(worker, []))
        await asyncio.sleep(0)  # the first try failed; the batch waits to be tried again
        await runtime._tick(worker)
        await applying
        await runtime._tick(worker)

    asyncio.run(batch_then_ticks())
    assert calls == ["process", "process", "process", "tick"]
