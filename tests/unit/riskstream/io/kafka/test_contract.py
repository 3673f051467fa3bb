"""The worker contract's one retry policy for a dependency that is away."""

from __future__ import annotations

import threading

import pytest
import redis

from riskstream.core.topics import GROUND_TRUTH
from riskstream.io.kafka import contract
from riskstream.io.kafka.contract import Batch, Output, attempt, retry_while_unavailable
from riskstream.schemas.events import GroundTruth


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "RETRY_S", 0.01)


def test_a_step_is_retried_until_redis_answers(caplog: pytest.LogCaptureFixture) -> None:
    failures = [redis.ConnectionError("refused"), redis.TimeoutError("slow")]

    def step() -> str:
        if failures:
            raise failures.pop(0)
        return "state"

    stop = threading.Event()
    assert retry_while_unavailable(step, "trigger", stop, "its state") == (True, "state")
    warned = [r.getMessage() for r in caplog.records]
    assert warned == ["trigger: Redis unavailable (refused); its state is retried in 1 s",
                      "trigger: Redis unavailable (slow); its state is retried in 1 s"]  # fmt: skip


def test_a_stop_while_redis_is_away_returns_without_success() -> None:
    stop = threading.Event()
    calls = []

    def step() -> str:
        calls.append(1)
        if len(calls) == 3:
            stop.set()
        raise redis.ConnectionError("refused")

    assert retry_while_unavailable(step, "notifier", stop, "the event") == (False, None)
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    def step() -> str:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        retry_while_unavailable(step, "trigger", threading.Event(), "its state")
    with pytest.raises(ValueError, match="a bug"):
        attempt(step, "trigger")


def test_attempt_tells_done_from_held_up() -> None:
    def down() -> None:
        raise redis.exceptions.ClusterDownError("resharding")

    assert attempt(lambda: 3, "w") == (True, 3)
    assert attempt(down, "w") == (False, None)


def test_a_batch_is_empty_without_outputs_or_a_before_commit_step() -> None:
    truth = GroundTruth("l1", "r1", "p1", 0, 1, "test")
    assert Batch().empty and Batch(after_commit=lambda: None).empty
    assert not Batch([Output(GROUND_TRUTH, b"p1", truth)]).empty
    assert not Batch(before_commit=lambda: None).empty
