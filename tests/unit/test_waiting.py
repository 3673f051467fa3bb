"""The tests' one waiting helper."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.waiting import eventually, wait_for


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert (
        eventually(lambda: next(counter) >= 3 and "ready", 5, "the counter", every=0.01) == "ready"
    )


def test_an_assertion_counts_as_not_yet() -> None:
    calls = itertools.count()

    def check() -> int:
        n = next(calls)
        assert n >= 2, "too early"
        return n

    assert eventually(check, 5, "the check", every=0.01) == 2


def test_fails_naming_what_never_happened_and_the_last_value_seen() -> None:
    began = time.monotonic()
    with pytest.raises(
        pytest.fail.Exception, match=r"the broker's answer: not within 0.2 s .*too early"
    ):
        eventually(
            lambda: (_ for _ in ()).throw(AssertionError("too early")),
            0.2,
            "the broker's answer",
            every=0.05,
        )
    assert 0.2 <= time.monotonic() - began < 2


def test_wait_for_says_whether_the_condition_held_in_time() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter) >= 3, 5, every=0.01)
    started = time.monotonic()
    assert not wait_for(lambda: False, 0.05, every=0.01)
    assert 0.05 <= time.monotonic() - started < 1
