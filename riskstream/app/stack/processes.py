"""Processes the local stack starts: pid files, liveness, ports, log tails.

``down`` must stop exactly what ``up`` started, so every process is recorded in a pid file and
recognised by a marker in its command line before it is signalled (a pid can be reused).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from riskstream.core.errors import StackError

PROGRESS_EVERY_S = 30.0  # how often a long start says it is still going
LOG_KEEP_BYTES = 64 * 1024 * 1024  # a service's log is rotated at its start past this


def port_in_use(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text("utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


@dataclass(frozen=True)
class Patience:
    """How long to wait for a starting service: ``quiet_s`` with no sign of progress (its log
    growing), and at most ``ceiling_s`` in all. A broker whose data dir holds thousands of
    topics (a machine that ran the suite many times) spends minutes loading them, logging as
    it goes; one that hangs logs nothing."""

    quiet_s: float
    ceiling_s: float

    def gave_up(self, started: float, last_progress: float, now: float) -> bool:
        return now - last_progress >= self.quiet_s or now - started >= self.ceiling_s


def log_size(path: Path) -> int:
    """The log's size: it grows while a starting service works."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def rotate_log(path: Path, keep_bytes: int = LOG_KEEP_BYTES) -> None:
    """Move a log past ``keep_bytes`` to ``<name>.1`` (the one before goes) before a start
    appends to it: a broker logs every partition it loads, and a machine that ran the suite
    often had a 950 MB ``kafka.log``."""
    if log_size(path) > keep_bytes:
        path.replace(path.with_name(path.name + ".1"))


def wait_started(
    name: str,
    ready: Callable[[], bool],
    exited: Callable[[], bool],
    log: Path | Callable[[], Path],
    patience: float | Patience,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Until ``ready()``; a float is a plain timeout, a :class:`Patience` waits on while the
    service's log grows, saying so every ``PROGRESS_EVERY_S``."""

    def logfile() -> Path:
        return log if isinstance(log, Path) else log()

    if not isinstance(patience, Patience):
        patience = Patience(patience, patience)
    started = last_progress = last_said = time.monotonic()
    size = log_size(logfile())
    while True:
        if ready():
            return
        if exited():
            raise StackError(
                f"{name} exited while starting",
                hint=f"last lines of its log:\n{log_tail(logfile())}",
            )
        now = time.monotonic()
        if (grown := log_size(logfile())) != size:
            size, last_progress = grown, now
        if patience.gave_up(started, last_progress, now):
            break
        if echo is not None and now - last_said >= PROGRESS_EVERY_S:
            last_said = now
            echo(f"{name}: still starting after {now - started:.0f}s (its log: {size:,} bytes)")
        time.sleep(0.5)
    raise StackError(
        f"{name} did not become ready within {time.monotonic() - started:.0f}s",
        hint=f"last lines of its log:\n{log_tail(logfile())}\n"
        "a data dir with many old topics slows a start: `riskstream stack down`, then delete "
        f"{name}'s data under the state dir (RISKSTREAM_STATE_DIR) to start empty",
    )


def _cmdline(pid: int) -> str:
    """The process's command line. Right after ``Popen`` returns, the child may have closed
    its exec pipe before the kernel set up its arguments, and reads as empty (CI once lost
    a just-started process's pid file to this): an empty one is read again for up to 0.5 s."""
    for _ in range(50):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        if raw:
            return raw.replace(b"\0", b" ").decode("utf-8", errors="replace")
        time.sleep(0.01)
    return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def numbered_pidfiles(run_dir: Path, name: str) -> list[int]:
    """The numbers of ``<name>-<n>.pid`` files in ``run_dir``: the nodes of a local cluster
    that ``up`` started (Kafka node ids, Redis master ports), sorted."""
    found = (p.stem.rpartition("-")[2] for p in run_dir.glob(f"{name}-*.pid"))
    return sorted(int(n) for n in found if n.isdigit())


@dataclass(frozen=True)
class ManagedProcess:
    """A long-running child of the local stack, tracked by a pid file."""

    name: str
    pidfile: Path
    logfile: Path
    marker: str  # a string its command line must contain

    def running_pid(self) -> int | None:
        """The pid if our process is alive; a stale pid file is removed."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and self.marker in _cmdline(pid):
            return pid
        self.pidfile.unlink(missing_ok=True)
        return None

    def start(self, argv: Sequence[str], cwd: Path) -> int:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        rotate_log(self.logfile)
        with self.logfile.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `down` signals the group
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc.pid

    def exited(self) -> bool:
        return self.running_pid() is None

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout``. True if one was stopped."""
        pid = self.running_pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            _reap(pid)
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            for _ in range(50):
                _reap(pid)
                if not _alive(pid):
                    break
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (else it is init's job)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
