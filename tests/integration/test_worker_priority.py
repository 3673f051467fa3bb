"""The monitors run off the hot path: `riskstream run performance` (and `run monitor`) lower
their CPU priority by RISKSTREAM_MONITOR_NICE, in every thread they start; a worker on the
hot path keeps the priority it was started with."""

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
from tests.integration.servers import free_port, http_get
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def _thread_nices(pid: int) -> list[int]:
    """The nice value of each of the process's threads (field 19 of /proc/<pid>/task/*/stat)."""
    nices = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            nices.append(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
    return nices


def _ready(port: int) -> None:
    """Wait until the worker on ``port`` is ready: its consumer runs, every thread it needs
    is started."""
    eventually(lambda: http_get(f"http://127.0.0.1:{port}/ready")[0] == 200, 90, "ready")


def test_a_monitor_lowers_its_priority_and_a_hot_path_worker_does_not(topics: Settings) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    cli = [sys.executable, "-m", "riskstream.app.cli.main", "run"]
    env = process_env(topics, RISKSTREAM_MONITOR_NICE="7")
    ports = {"performance": free_port(), "trigger": free_port()}
    performance, trigger = (
        subprocess.Popen([*cli, name, "--ops-port", str(port)], env=env)
        for name, port in ports.items()
    )
    try:
        for port in ports.values():
            _ready(port)
        niced = _thread_nices(performance.pid)
        assert len(niced) > 2 and set(niced) == {min(own + 7, 19)}, niced
        assert set(_thread_nices(trigger.pid)) == {own}
    finally:
        for proc in (performance, trigger):
            proc.send_signal(signal.SIGTERM)
        for proc in (performance, trigger):
            proc.wait(30)
