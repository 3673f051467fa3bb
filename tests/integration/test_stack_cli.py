"""`riskstream stack up | status | down` as a user runs them, on ports of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from riskstream.app.stack.processes import port_in_use
from riskstream.core.topics import CATALOG
from tests.integration.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskstream.app.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def own_stack_env(tmp_path: Path) -> dict[str, str]:
    state = tmp_path / "state"
    shared_libs = REPO / ".riskstream" / "kafka" / "libs"
    if shared_libs.exists():  # reuse the session's jars instead of a second mvn run
        shutil.copytree(shared_libs, state / "kafka" / "libs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    env.update(
        RISKSTREAM_STATE_DIR=str(state),
        RISKSTREAM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        RISKSTREAM_STACK_CONTROLLER_PORT=str(free_port()),
        RISKSTREAM_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        RISKSTREAM_STACK_MANAGED="true",
        RISKSTREAM_TOPIC_PARTITIONS="2",
    )
    return env


def _pids(state: Path) -> dict[str, int]:
    run = state / "run"
    return {p.stem: int(p.read_text()) for p in run.glob("*.pid")} if run.exists() else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_up_is_idempotent_and_down_leaves_no_process(own_stack_env: dict[str, str]) -> None:
    state = Path(own_stack_env["RISKSTREAM_STATE_DIR"])
    kafka_port = int(own_stack_env["RISKSTREAM_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1])
    try:
        first = _cli(own_stack_env, "stack", "up")
        assert first.returncode == 0, first.stdout + first.stderr
        assert (
            "kafka: started" in first.stdout
            and f"topics: {len(CATALOG)} in the catalog, {len(CATALOG)} created" in first.stdout
        )
        pids = _pids(state)
        assert set(pids) == {"kafka", "redis"}
        assert "kafka.Kafka" in Path(f"/proc/{pids['kafka']}/cmdline").read_text()

        second = _cli(own_stack_env, "stack", "up")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout and "started" not in second.stdout
        assert "0 created" in second.stdout
        assert _pids(state) == pids

        status = _cli(own_stack_env, "stack", "status")
        assert status.returncode == 0, status.stdout
        assert "running" in status.stdout and "4.3.1" in status.stdout
    finally:
        down = _cli(own_stack_env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert "stopped 2 process(es)" in down.stdout
    assert not any(_alive(pid) for pid in pids.values())
    assert _pids(state) == {}
    assert not port_in_use("127.0.0.1", kafka_port)

    status = _cli(own_stack_env, "stack", "status")
    assert status.returncode == 3 and "stopped" in status.stdout


def test_up_refuses_a_port_held_by_another_process(own_stack_env: dict[str, str]) -> None:
    redis_port = int(own_stack_env["RISKSTREAM_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", redis_port))
        squatter.listen()
        result = _cli(own_stack_env, "stack", "up")
    assert result.returncode == 1
    assert f"port {redis_port}" in result.stderr and "did not start" in result.stderr
    assert "what to do:" in result.stderr
    assert _pids(Path(own_stack_env["RISKSTREAM_STATE_DIR"])) == {}
