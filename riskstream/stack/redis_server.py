"""redis-server from PATH, on loopback, keeping nothing on disk (the workers rebuild state)."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

from riskstream.errors import StackError
from riskstream.settings import Settings
from riskstream.stack.processes import ManagedProcess


class RedisServer:
    """The local Redis under ``<state_dir>/redis`` and its process."""

    def __init__(self, settings: Settings) -> None:
        url = urlsplit(settings.redis_url.get_secret_value())
        self.settings = settings
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 6379
        self._password = url.password
        self.home = (settings.state_dir / "redis").resolve()
        self.process = ManagedProcess(
            "redis",
            pidfile=(settings.state_dir / "run" / "redis.pid").resolve(),
            logfile=self.home / "redis.log",
            marker="redis-server",
        )

    @staticmethod
    def binary() -> str:
        path = shutil.which("redis-server")
        if path is None:
            raise StackError(
                "redis-server is not on PATH",
                hint="install it: apt-get install -y redis-server (Debian/Ubuntu), "
                "or point RISKSTREAM_REDIS_URL at a running Redis",
            )
        return path

    def version(self) -> str:
        try:
            out = subprocess.run(
                [self.binary(), "--version"], capture_output=True, text=True, check=False
            ).stdout
        except StackError:
            return "not installed"
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return out.strip() or "unknown"

    def start(self) -> int:
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary(),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.home),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        if self._password:
            # redis-server reads the config from argv; a password there is visible in `ps`
            # only to this machine's users, as with any local redis.conf.
            argv += ["--requirepass", self._password]
        return self.process.start(argv, cwd=self.home)
