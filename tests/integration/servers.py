"""Servers of one test alone (a Kafka broker, a redis-server) on free ports, so a test can
kill, restart or reconfigure them without disturbing any other test."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from riskstream.settings import Settings
from riskstream.stack.kafka_broker import KafkaBroker
from riskstream.stack.manager import _up_kafka, redis_ready
from riskstream.stack.redis_server import RedisServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone, so killing it disturbs no other test."""

    def __init__(self, base: Settings, home: Path) -> None:
        self.url = f"redis://127.0.0.1:{free_port()}/0"
        self.settings = base.model_copy(
            update={"redis_url": SecretStr(self.url), "state_dir": home}
        )
        self.server = RedisServer(self.settings)

    def start(self) -> None:
        self.server.start()
        deadline = time.monotonic() + 20
        while not redis_ready(self.settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert redis_ready(self.settings), "the private redis-server did not start"

    def crash(self) -> None:
        pid = self.server.process.running_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while redis_ready(self.settings) and time.monotonic() < deadline:
            time.sleep(0.1)


class PrivateBroker:
    """A KRaft broker of this test alone, on free ports, from the same pinned jars."""

    def __init__(self, base: Settings, home: Path) -> None:
        self.settings = base.model_copy(
            update={
                "kafka_bootstrap": f"127.0.0.1:{free_port()}",
                "stack_controller_port": free_port(),
                "stack_managed": True,
                "state_dir": home,
            }
        )
        self.broker = KafkaBroker(self.settings)

    def start(self) -> None:
        _up_kafka(self.settings, print, timeout=120)

    def stop(self) -> None:
        assert self.broker.process.stop(timeout=60)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric_value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))
