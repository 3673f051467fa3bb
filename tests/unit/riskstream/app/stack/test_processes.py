import socket
import sys
import time
from pathlib import Path

import pytest

from riskstream.app.stack.kafka_broker import pinned_version, split_host_port
from riskstream.app.stack.processes import (
    ManagedProcess,
    Patience,
    log_tail,
    port_in_use,
    rotate_log,
    wait_started,
)
from riskstream.core.errors import StackError


def test_port_in_use_sees_a_listening_socket() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)


def test_managed_process_starts_stops_and_forgets(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "sleeper", tmp_path / "run" / "s.pid", tmp_path / "s.log", marker="riskstream-sleeper"
    )
    pid = proc.start(
        [sys.executable, "-c", "import time; time.sleep(60)", "riskstream-sleeper"], tmp_path
    )
    assert proc.running_pid() == pid
    assert proc.stop(timeout=5)
    assert proc.running_pid() is None
    assert not proc.pidfile.exists()
    assert not proc.stop()


def test_a_reused_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    import os

    proc = ManagedProcess("x", tmp_path / "x.pid", tmp_path / "x.log", marker="kafka.Kafka")
    proc.pidfile.write_text(str(os.getpid()))  # alive, but not a broker
    assert proc.running_pid() is None
    assert not proc.pidfile.exists()


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "l.log"
    log.write_text("\n".join(str(i) for i in range(100)))
    assert log_tail(log, 3) == "97\n98\n99"
    assert "no log" in log_tail(tmp_path / "missing.log")


def test_split_host_port() -> None:
    assert split_host_port("127.0.0.1:9092", 1) == ("127.0.0.1", 9092)
    assert split_host_port("PLAINTEXT://h:1,h2:2", 1) == ("h", 1)
    assert split_host_port("localhost", 9092) == ("localhost", 9092)


def test_pinned_version_is_kafka_4() -> None:
    assert pinned_version().startswith("4.")


def test_patience_gives_up_after_a_quiet_spell_or_at_its_ceiling() -> None:
    patience = Patience(quiet_s=10, ceiling_s=100)
    assert not patience.gave_up(started=0, last_progress=0, now=9.9)
    assert patience.gave_up(started=0, last_progress=0, now=10)
    assert not patience.gave_up(started=0, last_progress=95, now=99)  # still logging
    assert patience.gave_up(started=0, last_progress=99, now=100)  # but not for ever


def test_a_start_whose_log_grows_is_waited_for_past_its_quiet_limit(tmp_path: Path) -> None:
    """A broker loading many topics logs as it goes and is ready after the plain timeout
    (1 s here) would have given up; one whose log stays still is given up on."""
    log = tmp_path / "service.log"
    log.write_text("starting\n")
    began = time.monotonic()
    said: list[str] = []

    def loading() -> bool:
        with log.open("a") as out:
            out.write("loaded a partition\n")
        return time.monotonic() - began > 2.5

    wait_started("kafka", loading, lambda: False, log, Patience(1.0, 30.0), said.append)
    assert time.monotonic() - began > 2.5
    with pytest.raises(StackError, match="did not become ready within 1s") as raised:
        wait_started("kafka", lambda: False, lambda: False, log, Patience(1.0, 30.0))
    assert "loaded a partition" in str(raised.value.hint)  # the log's tail, to act on


def test_a_log_past_its_limit_is_moved_aside_at_start_and_a_small_one_kept(tmp_path: Path) -> None:
    log = tmp_path / "kafka.log"
    log.write_bytes(b"x" * 100)
    rotate_log(log, keep_bytes=100)
    assert log.read_bytes() == b"x" * 100  # at the limit: kept
    log.write_bytes(b"y" * 101)
    rotate_log(log, keep_bytes=100)
    assert not log.exists() and (tmp_path / "kafka.log.1").read_bytes() == b"y" * 101
    rotate_log(log, keep_bytes=100)  # no log yet: nothing to do
