"""``riskstream stack up | down | status``: start, stop and report the local stack.

``up`` is idempotent: a healthy stack is left as it is. A port held by a process that ``up``
did not start is reported, never taken over. With ``RISKSTREAM_KAFKA_BOOTSTRAP`` or
``RISKSTREAM_REDIS_URL`` set, that service is the user's and is only checked, not started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from confluent_kafka import KafkaException

from riskstream.errors import PortInUseError, StackError
from riskstream.kafka.factory import admin_client
from riskstream.settings import Settings, mask_url_password
from riskstream.stack.kafka_broker import KafkaBroker, pinned_version
from riskstream.stack.processes import log_tail, port_in_use
from riskstream.stack.redis_server import RedisServer

Echo = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``stack status``."""

    service: str
    state: str  # running | stopped | external | unreachable
    address: str
    pid: int | None
    version: str
    managed: bool


def _quiet(_: str) -> None:
    return None


def kafka_ready(settings: Settings, timeout: float = 2.0) -> bool:
    try:
        # log_level 0: while the broker starts, librdkafka would print a line per refused connect.
        admin_client(settings, {"log_level": 0}).list_topics(timeout=timeout)
    except KafkaException:
        return False
    return True


def redis_client(settings: Settings, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def redis_ready(settings: Settings) -> bool:
    try:
        return bool(redis_client(settings).ping())
    except redis.RedisError:
        return False


def _wait(
    name: str,
    ready: Callable[[], bool],
    exited: Callable[[], bool],
    log: Path,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if exited():
            raise StackError(
                f"{name} exited while starting",
                hint=f"last lines of its log:\n{log_tail(log)}",
            )
        time.sleep(0.5)
    raise StackError(
        f"{name} did not become ready within {timeout:.0f}s",
        hint=f"last lines of its log:\n{log_tail(log)}",
    )


def _up_kafka(
    settings: Settings, echo: Echo, timeout: float, broker: KafkaBroker | None = None
) -> None:
    if settings.kafka_is_external:
        echo(f"kafka: using the configured cluster at {settings.kafka_bootstrap}")
        if not kafka_ready(settings, timeout=min(timeout, 10.0)):
            raise StackError(
                "the configured Kafka cluster does not answer",
                bootstrap=settings.kafka_bootstrap,
                hint="unset RISKSTREAM_KAFKA_BOOTSTRAP to run the local broker instead",
            )
        return
    broker = broker or KafkaBroker(settings)
    pid = broker.process.running_pid()
    if pid is not None:
        if kafka_ready(settings):
            echo(f"kafka: already running (pid {pid}) at {broker.host}:{broker.port}")
            return
        echo(f"kafka: pid {pid} is up but not ready yet; waiting")
    else:
        for port in (broker.port, broker.controller_port):
            if port_in_use(broker.host, port):
                raise PortInUseError(
                    f"port {port} on {broker.host} is in use by a process riskstream did not start",
                    hint="stop that process, or set RISKSTREAM_KAFKA_BOOTSTRAP to use it as "
                    "your cluster (RISKSTREAM_STACK_CONTROLLER_PORT moves the controller port)",
                )
        if not broker.jars_ready():
            echo(f"kafka: fetching Apache Kafka {pinned_version()} jars with mvn (first run only)")
        broker.fetch_jars(on_line=lambda line: echo(f"  mvn: {line}"))
        broker.write_properties()
        if not broker.formatted():
            echo("kafka: formatting the KRaft log dir")
            broker.format_storage()
        pid = broker.start()
        echo(f"kafka: started pid {pid}; waiting for a metadata answer")
    _wait(
        "kafka",
        lambda: kafka_ready(settings),
        broker.process.exited,
        broker.process.logfile,
        timeout,
    )
    echo(f"kafka: ready at {broker.host}:{broker.port} (Apache Kafka {pinned_version()}, KRaft)")


def _up_redis(settings: Settings, echo: Echo, timeout: float) -> None:
    shown = mask_url_password(settings.redis_url.get_secret_value())
    if settings.redis_is_external:
        echo(f"redis: using the configured server at {shown}")
        if not redis_ready(settings):
            raise StackError(
                "the configured Redis does not answer PING",
                redis=shown,
                hint="unset RISKSTREAM_REDIS_URL to run the local redis-server instead",
            )
        return
    server = RedisServer(settings)
    pid = server.process.running_pid()
    if pid is not None and redis_ready(settings):
        echo(f"redis: already running (pid {pid}) at {server.host}:{server.port}")
        return
    if pid is None:
        if port_in_use(server.host, server.port):
            raise PortInUseError(
                f"port {server.port} on {server.host} is in use by a process riskstream did "
                "not start",
                hint="stop that process, or set RISKSTREAM_REDIS_URL to use it",
            )
        pid = server.start()
        echo(f"redis: started pid {pid}")
    _wait(
        "redis",
        lambda: redis_ready(settings),
        server.process.exited,
        server.process.logfile,
        timeout,
    )
    echo(f"redis: ready at {server.host}:{server.port} (redis {server.version()})")


def stack_up(settings: Settings, echo: Echo = _quiet, timeout: float = 120.0) -> None:
    """Start whatever of Kafka and Redis is not configured externally, and wait for both."""
    _up_redis(settings, echo, timeout)
    _up_kafka(settings, echo, timeout)


def stack_down(settings: Settings, echo: Echo = _quiet) -> list[str]:
    """Stop the processes ``up`` started (by pid file); return the names stopped."""
    stopped = []
    for name, process in (
        ("kafka", KafkaBroker(settings).process),
        ("redis", RedisServer(settings).process),
    ):
        pid = process.running_pid()
        if process.stop():
            echo(f"{name}: stopped pid {pid}")
            stopped.append(name)
        else:
            echo(f"{name}: not running")
    return stopped


def stack_status(settings: Settings) -> list[ServiceStatus]:
    broker = KafkaBroker(settings)
    kafka_pid = None if settings.kafka_is_external else broker.process.running_pid()
    kafka_up = kafka_ready(settings, timeout=2.0)
    server = RedisServer(settings)
    redis_pid = None if settings.redis_is_external else server.process.running_pid()
    redis_up = redis_ready(settings)
    redis_version = "unknown"
    if redis_up:
        try:
            info = redis_client(settings).info("server")
            redis_version = str(info.get("redis_version", "unknown"))
        except redis.RedisError:
            pass

    def state(external: bool, up: bool, pid: int | None) -> str:
        if external:
            return "external" if up else "unreachable"
        if pid is not None:
            return "running" if up else "starting"
        return "in use by another process" if up else "stopped"

    return [
        ServiceStatus(
            "kafka",
            state(settings.kafka_is_external, kafka_up, kafka_pid),
            settings.kafka_bootstrap,
            kafka_pid,
            "unknown (external)"
            if settings.kafka_is_external
            else f"Apache Kafka {pinned_version()} (KRaft)",
            managed=not settings.kafka_is_external,
        ),
        ServiceStatus(
            "redis",
            state(settings.redis_is_external, redis_up, redis_pid),
            mask_url_password(settings.redis_url.get_secret_value()),
            redis_pid,
            redis_version,
            managed=not settings.redis_is_external,
        ),
    ]
