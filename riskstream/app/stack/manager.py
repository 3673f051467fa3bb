"""``riskstream stack up | down | status``: start, stop and report the local stack.

``up`` is idempotent: a healthy stack is left as it is. A port held by a process that ``up``
did not start is reported, never taken over. With ``RISKSTREAM_KAFKA_BOOTSTRAP`` or
``RISKSTREAM_REDIS_URL`` set, that service is the user's and is only checked, not started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import redis
from confluent_kafka import KafkaException
from pydantic import SecretStr

from riskstream.app.stack.kafka_broker import (
    KafkaBroker,
    cluster_bootstrap,
    local_nodes,
    pinned_version,
    started_nodes,
)
from riskstream.app.stack.processes import Patience, port_in_use, wait_started
from riskstream.app.stack.prometheus import PrometheusServer, up_prometheus
from riskstream.app.stack.redis_server import (
    RedisServer,
    cluster_masters,
    create_cluster,
    started_servers,
)
from riskstream.core.errors import PortInUseError, StackError
from riskstream.core.settings import Settings, mask_url_password
from riskstream.io.kafka.factory import admin_client

Echo = Callable[[str], None]
# a broker loading a data dir of thousands of topics logs as it goes: waited on up to this
KAFKA_START_CEILING_S = 900.0


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


def kafka_brokers_up(settings: Settings, timeout: float = 2.0) -> int:
    """How many brokers the cluster's metadata lists (0: no answer)."""
    try:
        # log_level 0: while the broker starts, librdkafka would print a line per refused connect.
        metadata = admin_client(settings, {"log_level": 0}).list_topics(timeout=timeout)
    except KafkaException:
        return 0
    return len(metadata.brokers)


def kafka_ready(settings: Settings, timeout: float = 2.0) -> bool:
    return kafka_brokers_up(settings, timeout) > 0


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


def _refuse_taken_ports(nodes: list[KafkaBroker]) -> None:
    for node in nodes:
        for port in (node.port, node.controller_port):
            if port_in_use(node.host, port):
                raise PortInUseError(
                    f"port {port} on {node.host} is in use by a process riskstream did not start",
                    hint="stop that process (`riskstream stack down` stops a stack of another "
                    "size), or set RISKSTREAM_KAFKA_BOOTSTRAP to use it as your cluster "
                    "(RISKSTREAM_STACK_CONTROLLER_PORT moves the controller ports)",
                )


def _up_kafka(
    settings: Settings, echo: Echo, timeout: float, nodes: list[KafkaBroker] | None = None
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
    nodes = nodes or local_nodes(settings)
    # every node, so that a client still finds the cluster when the first node is down
    ask = settings.model_copy(update={"kafka_bootstrap": cluster_bootstrap(nodes[0].nodes)})
    to_start = [node for node in nodes if node.process.running_pid() is None]
    if not to_start and kafka_brokers_up(ask) >= len(nodes):
        where = ", ".join(f"{n.host}:{n.port}" for n in nodes)
        echo(f"kafka: already running ({len(nodes)} broker(s)) at {where}")
        return
    _refuse_taken_ports(to_start)
    if to_start and not to_start[0].jars_ready():
        echo(f"kafka: fetching Apache Kafka {pinned_version()} jars with mvn (first run only)")
    for node in to_start:
        node.fetch_jars(on_line=lambda line: echo(f"  mvn: {line}"))
        node.write_properties()
        if not node.formatted():
            echo(f"{node.name}: formatting the KRaft log dir")
            node.format_storage()
        pid = node.start()
        echo(f"{node.name}: started pid {pid} at {node.host}:{node.port}")
    echo(f"kafka: waiting until the metadata lists {len(nodes)} broker(s)")

    def any_exited() -> bool:
        return any(n.process.exited() for n in nodes)

    def log_of_exited() -> Path:
        return next(
            (n.process.logfile for n in nodes if n.process.exited()), nodes[0].process.logfile
        )

    wait_started(
        "kafka",
        lambda: kafka_brokers_up(ask) >= len(nodes),
        any_exited,
        log_of_exited,
        Patience(quiet_s=timeout, ceiling_s=KAFKA_START_CEILING_S),
        echo,
    )
    echo(
        f"kafka: ready, {len(nodes)} broker(s) at {ask.kafka_bootstrap} "
        f"(Apache Kafka {pinned_version()}, KRaft)"
    )


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
    wait_started(
        "redis",
        lambda: redis_ready(settings),
        server.process.exited,
        server.process.logfile,
        timeout,
    )
    echo(f"redis: ready at {server.host}:{server.port} (redis {server.version()})")


def _node_settings(settings: Settings, server: RedisServer) -> Settings:
    url = urlsplit(settings.redis_url.get_secret_value())
    netloc = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
    node_url = url._replace(netloc=f"{netloc}{server.host}:{server.port}").geturl()
    return settings.model_copy(update={"redis_url": SecretStr(node_url)})


def cluster_info(settings: Settings) -> dict[str, str]:
    """CLUSTER INFO of the node ``settings`` names ({} when it does not answer)."""
    try:
        raw = redis_client(settings).execute_command("CLUSTER INFO")
    except redis.RedisError:
        return {}
    if isinstance(raw, dict):  # redis-py parses the reply
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def _up_redis_cluster(settings: Settings, echo: Echo, timeout: float) -> None:
    masters = cluster_masters(settings)
    for server in masters:
        node = _node_settings(settings, server)
        if server.process.running_pid() is None:
            if port_in_use(server.host, server.port):
                raise PortInUseError(
                    f"port {server.port} on {server.host} is in use by a process riskstream "
                    "did not start",
                    hint="stop it (`riskstream stack down` stops a single redis-server), or "
                    "move RISKSTREAM_REDIS_URL's port: the masters take it and the two above",
                )
            echo(f"{server.name}: started pid {server.start()}")
        wait_started(
            server.name,
            partial(redis_ready, node),
            server.process.exited,
            server.process.logfile,
            timeout,
        )
    first = _node_settings(settings, masters[0])
    if int(cluster_info(first).get("cluster_slots_assigned", "0")) == 0:
        echo(f"redis: creating a cluster of {len(masters)} masters (no replicas)")
        create_cluster(masters)
    wait_started(
        "redis cluster",
        lambda: all(
            cluster_info(_node_settings(settings, m)).get("cluster_state") == "ok" for m in masters
        ),
        lambda: any(m.process.exited() for m in masters),
        masters[0].process.logfile,
        timeout,
    )
    where = ", ".join(m.address for m in masters)
    echo(f"redis: cluster ready, {len(masters)} masters at {where} (redis {masters[0].version()})")


def stack_up(settings: Settings, echo: Echo = _quiet, timeout: float = 120.0) -> None:
    """Start whatever of Kafka and Redis is not configured externally, and wait for both;
    with ``stack_prometheus``, Prometheus too."""
    if settings.redis_cluster and not settings.redis_is_external:
        _up_redis_cluster(settings, echo, timeout)
    else:
        _up_redis(settings, echo, timeout)
    _up_kafka(settings, echo, timeout)
    if settings.stack_prometheus:
        up_prometheus(settings, echo, timeout)


def stack_down(settings: Settings, echo: Echo = _quiet) -> list[str]:
    """Stop the processes ``up`` started (by pid file); return the names stopped."""
    stopped = []
    processes = [(n.name, n.process) for n in started_nodes(settings)]
    processes += [(r.name, r.process) for r in started_servers(settings)]
    prometheus = PrometheusServer(settings).process
    if prometheus.pidfile.exists():
        processes.append(("prometheus", prometheus))
    for name, process in processes:
        pid = process.running_pid()
        if process.stop():
            echo(f"{name}: stopped pid {pid}")
            stopped.append(name)
        else:
            echo(f"{name}: not running")
    return stopped


def stack_status(settings: Settings) -> list[ServiceStatus]:
    """One row per Kafka node riskstream runs (or one for an external cluster), one for Redis
    (or per cluster master), and one for Prometheus when it runs."""
    return [*_kafka_rows(settings), *_redis_rows(settings), *_prometheus_rows(settings)]


def _state(external: bool, up: bool, pid: int | None) -> str:
    if external:
        return "external" if up else "unreachable"
    if pid is not None:
        return "running" if up else "starting"
    return "in use by another process" if up else "stopped"


def _kafka_rows(settings: Settings) -> list[ServiceStatus]:
    if settings.kafka_is_external:
        up = kafka_ready(settings)
        return [
            ServiceStatus(
                "kafka",
                _state(True, up, None),
                settings.kafka_bootstrap,
                None,
                "unknown (external)",
                managed=False,
            )
        ]
    rows = []
    for node in started_nodes(settings):
        address = f"{node.host}:{node.port}"
        up = kafka_ready(settings.model_copy(update={"kafka_bootstrap": address}))
        pid = node.process.running_pid()
        version = f"Apache Kafka {pinned_version()} (KRaft)"
        rows.append(
            ServiceStatus(node.name, _state(False, up, pid), address, pid, version, managed=True)
        )
    return rows


def _redis_rows(settings: Settings) -> list[ServiceStatus]:
    redis_up = redis_ready(settings)
    redis_version = "unknown"
    if redis_up:
        try:
            info = redis_client(settings).info("server")
            redis_version = str(info.get("redis_version", "unknown"))
        except redis.RedisError:
            pass
    if settings.redis_cluster and not settings.redis_is_external:
        return [
            ServiceStatus(
                m.name,
                _state(False, redis_ready(_node_settings(settings, m)), m.process.running_pid()),
                m.address,
                m.process.running_pid(),
                f"{redis_version} (cluster master)",
                managed=True,
            )
            for m in cluster_masters(settings)
        ]
    external = settings.redis_is_external
    pid = None if external else RedisServer(settings).process.running_pid()
    return [
        ServiceStatus(
            "redis",
            _state(external, redis_up, pid),
            mask_url_password(settings.redis_url.get_secret_value()),
            pid,
            redis_version,
            managed=not external,
        )
    ]


def _prometheus_rows(settings: Settings) -> list[ServiceStatus]:
    prometheus = PrometheusServer(settings)
    pid = prometheus.process.running_pid()
    if not settings.stack_prometheus and pid is None:
        return []
    state = _state(False, prometheus.ready(), pid)
    return [
        ServiceStatus("prometheus", state, prometheus.url, pid, prometheus.version(), managed=True)
    ]
