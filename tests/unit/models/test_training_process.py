"""The training process: a fit runs in another process, and a process that dies is named
and replaced."""

from __future__ import annotations

import os
import signal
import time

import pytest

from riskstream.models.training_process import TrainingProcess, TrainingProcessError


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_call_runs_in_a_child_and_a_dead_child_is_replaced() -> None:
    process = TrainingProcess("test").start()
    try:
        child = process.run(os.getpid)
        assert child != os.getpid()
        with pytest.raises(TrainingProcessError, match="died before it answered"):
            process.run(_die)
        replaced = process.run(os.getpid)
        assert replaced not in (child, os.getpid())
    finally:
        process.stop()


def test_stop_ends_the_child_at_once() -> None:
    process = TrainingProcess("test").start()
    child = process.run(os.getpid)
    process.stop()
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # 5 s at most; it takes a few ms
            os.kill(child, 0)
            time.sleep(0.05)
