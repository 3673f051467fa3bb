"""The Faust engine uses Faust's public API only: what reaches into Faust's internals is in
``riskstream.io.kafka.faust_app`` alone, where a test pins it."""

from __future__ import annotations

import ast
from pathlib import Path

from riskstream.io.kafka import faust_app, faust_worker


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
