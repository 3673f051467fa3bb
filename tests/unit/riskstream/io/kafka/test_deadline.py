from __future__ import annotations

import threading
import time

import pytest

from riskstream.core.errors import ServiceUnavailableError
from riskstream.io.kafka.deadline import CallDeadline, StalledCallError


def test_a_call_that_returns_in_time_gives_its_value() -> None:
    calls = CallDeadline("scorer", grace_s=1.0)
    assert calls.run("sum", 1.0, lambda: sum([1, 2, 3])) == 6
    assert calls.stalls == 0


def test_a_call_that_raises_raises_the_same_error_in_the_caller() -> None:
    calls = CallDeadline("scorer", grace_s=1.0)

    def refuse() -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        calls.run("refuse", 1.0, refuse)
    assert calls.run("after", 1.0, lambda: "still serving") == "still serving"


def test_a_call_past_its_timeout_and_grace_is_given_up_and_the_next_runs_on_a_new_thread() -> None:
    calls = CallDeadline("scorer", grace_s=0.1)
    release = threading.Event()
    began = time.monotonic()
    with pytest.raises(StalledCallError) as stalled:
        calls.run("send_offsets_to_transaction", 0.2, lambda: release.wait(30))
    waited = time.monotonic() - began
    assert 0.3 <= waited < 2.0, f"gave up after {waited:.2f} s, not after timeout + grace"
    assert isinstance(stalled.value, ServiceUnavailableError)
    assert "send_offsets_to_transaction" in str(stalled.value)
    assert stalled.value.context["worker"] == "scorer"
    assert calls.stalls == 1
    # the stuck helper is still blocked, yet a later call is served at once
    began = time.monotonic()
    assert calls.run("commit_transaction", 0.2, lambda: "committed") == "committed"
    assert time.monotonic() - began < 0.5
    release.set()


def test_the_abandoned_helper_thread_exits_once_its_call_returns() -> None:
    calls = CallDeadline("exit-check", grace_s=0.05)
    assert not [t for t in threading.enumerate() if t.name == "exit-check-calls"]  # lazy
    release = threading.Event()
    with pytest.raises(StalledCallError):
        calls.run("stuck", 0.05, lambda: release.wait(30))
    assert calls.run("next", 1, lambda: 42) == 42
    helpers = [t for t in threading.enumerate() if t.name == "exit-check-calls"]
    assert len(helpers) == 2 and all(t.daemon for t in helpers)
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if len([t for t in threading.enumerate() if t.name == "exit-check-calls"]) == 1:
            break
        time.sleep(0.01)
    assert len([t for t in threading.enumerate() if t.name == "exit-check-calls"]) == 1
