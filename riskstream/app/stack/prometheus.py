"""Prometheus from PATH (Debian's ``prometheus`` package), on loopback, scraping every
worker's ``/metrics`` at ``RISKSTREAM_OPS_PORT`` + its place in ``run all``: what the compose
file's Prometheus does on Docker, for machines without it. Grafana's dashboard
(``deploy/grafana``) queries either."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import yaml

from riskstream.app.stack.processes import ManagedProcess, log_tail, port_in_use
from riskstream.core.errors import PortInUseError, StackError
from riskstream.core.slices import LocalStackSettings
from riskstream.io.ops import WORKERS, ops_port_of

SCRAPE_INTERVAL_S = 5


def scrape_config(
    ops_host: str, first_port: int, interval_s: float = SCRAPE_INTERVAL_S
) -> dict[str, Any]:
    """One job, ``riskstream``, with one target per worker labelled ``processor``."""
    host = "127.0.0.1" if ops_host in ("0.0.0.0", "::") else ops_host
    return {
        "global": {"scrape_interval": f"{interval_s:g}s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {
                "job_name": "riskstream",
                "static_configs": [
                    {
                        "targets": [f"{host}:{ops_port_of(first_port, worker)}"],
                        "labels": {"worker": worker},
                    }
                    for worker in WORKERS
                ],
            }
        ],
    }


class PrometheusServer:
    """The local Prometheus under ``<state_dir>/prometheus`` and its process."""

    def __init__(self, settings: LocalStackSettings, interval_s: float = SCRAPE_INTERVAL_S) -> None:
        self.settings = settings
        self.interval_s = interval_s
        self.port = settings.prometheus_port
        self.home = (settings.state_dir / "prometheus").resolve()
        self.process = ManagedProcess(
            "prometheus",
            pidfile=(settings.state_dir / "run" / "prometheus.pid").resolve(),
            logfile=self.home / "prometheus.log",
            marker="prometheus",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        path = shutil.which("prometheus")
        if path is None:
            raise StackError(
                "prometheus is not on PATH",
                hint="install it: apt-get install -y prometheus (Debian/Ubuntu), or run "
                "compose.yaml's prometheus service",
            )
        return path

    def version(self) -> str:
        out = subprocess.run(
            [self.binary(), "--version"], capture_output=True, text=True, check=False
        ).stdout
        words = out.split()
        return words[2] if len(words) > 2 else "unknown"

    def start(self) -> int:
        if self.settings.ops_port == 0:
            raise StackError(
                "the workers' ops endpoints are off (RISKSTREAM_OPS_PORT=0): nothing to scrape",
                hint="unset RISKSTREAM_OPS_PORT (default 9400)",
            )
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "prometheus.yml"
        scrape = scrape_config(self.settings.ops_host, self.settings.ops_port, self.interval_s)
        config.write_text(yaml.safe_dump(scrape, sort_keys=False))
        argv = [
            self.binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.home / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        return self.process.start(argv, cwd=self.home)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result (a list of series)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        if answer.get("status") != "success":
            raise StackError("prometheus refused a query", query=promql, answer=answer)
        return list(answer["data"]["result"])


def up_prometheus(
    settings: LocalStackSettings,
    echo: Callable[[str], None] = lambda _: None,
    timeout: float = 60.0,
    interval_s: float = 5.0,
) -> PrometheusServer:
    server = PrometheusServer(settings, interval_s)
    pid = server.process.running_pid()
    if pid is not None and server.ready():
        echo(f"prometheus: already running (pid {pid}) at {server.url}")
        return server
    if pid is None:
        if port_in_use("127.0.0.1", server.port):
            raise PortInUseError(
                f"port {server.port} is in use by a process riskstream did not start",
                hint="stop that process, or set RISKSTREAM_PROMETHEUS_PORT to another port",
            )
        pid = server.start()
        echo(f"prometheus: started pid {pid}")
    deadline = time.monotonic() + timeout
    while not server.ready():
        if server.process.exited() or time.monotonic() > deadline:
            raise StackError(
                "prometheus did not become ready",
                url=server.url,
                hint=f"last lines of its log:\n{log_tail(server.process.logfile)}",
            )
        time.sleep(0.5)
    echo(
        f"prometheus: ready at {server.url}, scraping the workers' /metrics from port "
        f"{settings.ops_port} (prometheus {server.version()})"
    )
    return server
