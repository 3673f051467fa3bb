"""One way for a test to wait: poll a condition until it holds, or fail saying what never
happened. Replaces hand-written deadline loops and the fixed sleeps that synchronised tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def eventually(
    condition: Callable[[], T], timeout: float, what: str | Callable[[], str], every: float = 0.2
) -> T:
    """``condition()``'s first truthy value, polled every ``every`` s. An AssertionError it
    raises counts as "not yet". After ``timeout`` s the test fails naming ``what`` (or what it
    returns then) and the last value or assertion seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
        except AssertionError as exc:
            value, last = None, exc  # type: ignore[assignment]
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            pytest.fail(f"{said}: not within {timeout:g} s (last seen: {last!r})")
        time.sleep(every)


def wait_for(condition: Callable[[], object], timeout: float, every: float = 0.2) -> bool:
    """Whether ``condition()`` became truthy within ``timeout`` s, polled every ``every`` s:
    for a test that stops its workers first and then asserts what they did, where the
    assertions say more than a timeout would."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True
