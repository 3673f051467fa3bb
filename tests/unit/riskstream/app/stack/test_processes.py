import socket
import sys
from pathlib import Path

from riskstream.app.stack.kafka_broker import pinned_version, split_host_port
from riskstream.app.stack.processes import ManagedProcess, log_tail, port_in_use


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
