"""Shared rich console and the error boundary of every command."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from riskstream.core.errors import RiskstreamError
from riskstream.io.kafka.reading import skipped_summary

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def echo(line: str) -> None:
    console.print(line, highlight=False)


def clock_time(epoch_ms: int) -> str:
    """An event time as a person reads it in a table: UTC hours, minutes and seconds."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M:%S")


def report_skipped(skipped: Counter[str], what: str) -> None:
    """After a read: how many messages of ``what`` did not decode, and why (stderr)."""
    line = skipped_summary(skipped, what)
    if line:
        err_console.print(f"[yellow]{line}[/]")


def fails_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a RiskstreamError into a red message with its hint and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except RiskstreamError as exc:
            err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            if exc.context:
                for key, value in exc.context.items():
                    err_console.print(f"  {key}: {value}", highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]what to do:[/] {exc.hint}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper
