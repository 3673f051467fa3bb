"""redis-server from PATH, on loopback, keeping nothing on disk (the workers rebuild state):
one server, or (``stack up --redis-cluster``) three masters of a Redis Cluster."""

from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

from riskstream.app.stack.processes import ManagedProcess, numbered_pidfiles
from riskstream.core.errors import StackError
from riskstream.core.slices import LocalStackSettings

CLUSTER_MASTERS = 3
CLUSTER_BUS_OFFSET = 10_000  # a cluster node also listens on its port + this (its bus)


class RedisServer:
    """The local Redis under ``<state_dir>/redis`` and its process; with ``cluster_port``, one
    master of the local Redis Cluster, under ``<state_dir>/redis-cluster/<port>``."""

    def __init__(self, settings: LocalStackSettings, cluster_port: int | None = None) -> None:
        url = urlsplit(settings.redis_url.get_secret_value())
        self.settings = settings
        self.host = url.hostname or "127.0.0.1"
        self.port = cluster_port or url.port or 6379
        self.cluster = cluster_port is not None
        self._password = url.password
        name = f"redis-{self.port}" if self.cluster else "redis"
        root = settings.state_dir / ("redis-cluster" if self.cluster else "redis")
        self.home = (root / str(self.port) if self.cluster else root).resolve()
        self.process = ManagedProcess(
            name,
            pidfile=(settings.state_dir / "run" / f"{name}.pid").resolve(),
            logfile=self.home / "redis.log",
            marker="redis-server",
        )

    @property
    def name(self) -> str:
        return self.process.name

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

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
            argv += ["--requirepass", self._password, "--masterauth", self._password]
        if self.cluster:
            argv += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ]
        return self.process.start(argv, cwd=self.home)


def cluster_masters(settings: LocalStackSettings) -> list[RedisServer]:
    """The local cluster's masters: on the URL's port and the two above it."""
    first = RedisServer(settings).port
    highest = first + CLUSTER_MASTERS - 1 + CLUSTER_BUS_OFFSET
    if highest > 65535:
        raise StackError(
            "the Redis URL's port is too high for a local Redis Cluster",
            port=first,
            hint=f"each master also listens on its port + {CLUSTER_BUS_OFFSET:,}; use a port "
            f"of {65535 - CLUSTER_BUS_OFFSET - CLUSTER_MASTERS + 1} or less in "
            "RISKSTREAM_REDIS_URL",
        )
    return [RedisServer(settings, first + i) for i in range(CLUSTER_MASTERS)]


def started_servers(settings: LocalStackSettings) -> list[RedisServer]:
    """Every local Redis with a pid file, single or cluster master: what ``down`` stops."""
    ports = numbered_pidfiles(settings.state_dir / "run", "redis")
    single = RedisServer(settings)
    servers = [single] if not ports or single.process.pidfile.exists() else []
    return servers + [RedisServer(settings, port) for port in ports]


def create_cluster(masters: list[RedisServer]) -> None:
    """Hand the 16,384 slots out over the masters, no replicas (redis-cli --cluster create)."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise StackError(
            "redis-cli is not on PATH; it creates the local Redis Cluster",
            hint="install it: apt-get install -y redis-tools (Debian/Ubuntu)",
        )
    password = masters[0]._password
    argv = [cli, *(["--no-auth-warning", "-a", password] if password else [])]
    argv += ["--cluster", "create", *(m.address for m in masters)]
    argv += ["--cluster-replicas", "0", "--cluster-yes"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise StackError(
            "redis-cli could not create the Redis Cluster",
            masters=[m.address for m in masters],
            hint=f"`riskstream stack down`, delete {masters[0].home.parent} and retry.\n"
            f"{(result.stdout + result.stderr)[-1500:]}",
        )
