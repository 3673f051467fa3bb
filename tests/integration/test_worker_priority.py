"""The monitors run off the hot path: `riskstream run performance` and `run monitor` lower their
CPU priority (RISKSTREAM_MONITOR_CPU_PRIORITY) in every thread they have or start; a worker on
the hot path keeps the priority it was started with."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from riskstream.core.settings import Settings
from tests.integration.conftest import process_env
from tests.integration.servers import free_port, wait_until_ready
from tests.waiting import eventually

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "riskstream.app.cli.main", "run"]


def _threads(pid: int) -> dict[int, tuple[int, int]]:
    """Thread id → (scheduling policy, nice value) of each of the process's threads."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended
            tid = int(task.name)
            found[tid] = (os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid))
    return found


def test_monitors_lower_their_priority_and_a_hot_path_worker_does_not(topics: Settings) -> None:
    own = (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))
    ports = {"performance": free_port(), "trigger": free_port()}
    started = {
        name: subprocess.Popen([*CLI, name, "--ops-port", str(port)], env=process_env(topics))
        for name, port in ports.items()
    }
    # the drift monitor waits for a champion (there is none here), but lowers itself first
    started["monitor"] = subprocess.Popen(
        [*CLI, "monitor", "--ops-port", "0"],
        env=process_env(topics, RISKSTREAM_MONITOR_CPU_PRIORITY="low"),
    )
    try:
        for port in ports.values():
            wait_until_ready(f"http://127.0.0.1:{port}", 90)  # its threads are started
        idle = _threads(started["performance"].pid)
        assert len(idle) > 2 and set(idle.values()) == {(os.SCHED_IDLE, own[1])}, idle
        assert set(_threads(started["trigger"].pid).values()) == {own}
        monitor = started["monitor"].pid
        eventually(lambda: _threads(monitor)[monitor][1] == max(own[1], 10), 60, "monitor niced")
        assert set(_threads(monitor).values()) == {(own[0], max(own[1], 10))}
    finally:
        for proc in started.values():
            proc.send_signal(signal.SIGTERM)
        for proc in started.values():
            proc.wait(30)
