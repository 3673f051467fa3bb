"""The workers' one retry policy for a Redis that is away."""

from __future__ import annotations

import threading

import pytest
import redis

from riskstream import redis_client
from riskstream.redis_client import retry_while_redis_down


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_client, "REDIS_RETRY_S", 0.01)


def test_a_step_is_retried_until_redis_answers(caplog: pytest.LogCaptureFixture) -> None:
    failures = [redis.ConnectionError("refused"), redis.TimeoutError("slow")]

    def step() -> str:
        if failures:
            raise failures.pop(0)
        return "state"

    assert retry_while_redis_down(step, "trigger", threading.Event(), "its state") == "state"
    warned = [r.getMessage() for r in caplog.records]
    assert warned == ["trigger: Redis unavailable (refused); its state is retried in 0 s",
                      "trigger: Redis unavailable (slow); its state is retried in 0 s"]  # fmt: skip


def test_a_stop_while_redis_is_away_returns_none_without_success() -> None:
    stop = threading.Event()
    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        raise redis.ConnectionError("refused")

    assert retry_while_redis_down(step, "notifier", stop, "the event") is None
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    def step() -> str:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        retry_while_redis_down(step, "trigger", threading.Event(), "its state")
