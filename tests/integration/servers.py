"""Servers of one test alone (a Kafka broker, a redis-server) on free ports, so a test can
kill, restart or reconfigure them without disturbing any other test."""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from riskstream.app.stack.kafka_broker import KafkaBroker, SaslSslListener, local_nodes
from riskstream.app.stack.manager import _up_kafka, _up_redis_cluster, redis_ready
from riskstream.app.stack.processes import port_in_use
from riskstream.app.stack.redis_server import (
    CLUSTER_BUS_OFFSET,
    CLUSTER_MASTERS,
    RedisServer,
    cluster_masters,
)
from riskstream.core.settings import Settings
from tests.waiting import eventually, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone, so killing it disturbs no other test; with a
    ``password`` it requires AUTH."""

    def __init__(self, base: Settings, home: Path, password: str | None = None) -> None:
        credentials = f":{password}@" if password else ""
        self.url = f"redis://{credentials}127.0.0.1:{free_port()}/0"
        self.settings = base.model_copy(
            update={"redis_url": SecretStr(self.url), "state_dir": home}
        )
        self.server = RedisServer(self.settings)

    def start(self) -> None:
        self.server.start()
        assert wait_for(lambda: redis_ready(self.settings), 20, every=0.1), (
            "the private redis-server did not start"
        )

    def crash(self) -> None:
        pid = self.server.process.running_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not redis_ready(self.settings), 10, every=0.1)


class PrivateBroker:
    """A KRaft broker of this test alone, on free ports, from the same pinned jars; with
    ``sasl_ssl`` its one listener takes SCRAM over TLS, and ``client`` holds the librdkafka
    options that reach it."""

    def __init__(
        self,
        base: Settings,
        home: Path,
        sasl_ssl: SaslSslListener | None = None,
        client: dict[str, str] | None = None,
    ) -> None:
        self.settings = base.model_copy(
            update={
                "kafka_bootstrap": f"127.0.0.1:{free_port()}",
                "kafka_extra": {k: SecretStr(v) for k, v in (client or {}).items()},
                "stack_controller_port": free_port(),
                "stack_managed": True,
                "state_dir": home,
            }
        )
        self.broker = KafkaBroker(self.settings, sasl_ssl)

    def start(self) -> None:
        _up_kafka(self.settings, print, timeout=120, nodes=[self.broker])

    def stop(self) -> None:
        assert self.broker.process.stop(timeout=60)


def free_port_run(count: int, step: int = 2) -> int:
    """A port p with p, p+step, ... (count of them) all free now."""
    for _ in range(200):
        first = free_port()
        ports = [first + step * i for i in range(count)]
        if all(p < 65536 and not port_in_use("127.0.0.1", p) for p in ports):
            return first
    raise AssertionError("no run of free ports found")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_cluster_ports(count: int, shadow: int) -> int:
    """A port p with p..p+count-1 and each one's +``shadow`` (a Redis Cluster node's bus)
    free now, all below the kernel's ephemeral range: a port in that range can be taken by
    any outgoing connection between this check and the server's bind, which failed CI once."""
    below = _ephemeral_low()
    pick = random.Random()
    for _ in range(500):
        first = pick.randrange(10_000, below - shadow - count)
        ports = [first + i for i in range(count)]
        if all(not port_in_use("127.0.0.1", p) for p in ports + [p + shadow for p in ports]):
            return first
    raise AssertionError("no run of free ports found below the ephemeral range")


class PrivateCluster:
    """A three-node KRaft cluster of this test alone (every node broker and controller), so a
    test can SIGKILL one node without disturbing any other test."""

    def __init__(self, base: Settings, home: Path, brokers: int = 3) -> None:
        ports = [free_port() for _ in range(brokers)]
        self.settings = base.model_copy(
            update={
                "kafka_bootstrap": ",".join(f"127.0.0.1:{p}" for p in ports),
                "stack_controller_port": free_port_run(brokers),
                "stack_managed": True,
                "stack_brokers": brokers,
                "state_dir": home,
            }
        )
        self.nodes = local_nodes(self.settings)

    def start(self) -> None:
        _up_kafka(self.settings, print, timeout=180, nodes=self.nodes)

    def node_at(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def kill(self, node_id: int) -> None:
        """SIGKILL one node's JVM, as a machine losing power would."""
        node = self.node_at(node_id)
        pid = node.process.running_pid()
        assert pid is not None, f"node {node_id} is not running"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: node.process.running_pid() is None, 10, every=0.1)

    def stop(self) -> None:
        """Throw the cluster away: after a node was killed, the others' graceful shutdown
        waits ~30 s on a controller quorum for nothing (their data is the test's tmp dir)."""
        for node in self.nodes:
            node.process.stop(timeout=2)


class PrivateRedisCluster:
    """A Redis Cluster of three masters of this test alone, as ``stack up --redis-cluster``
    runs it."""

    def __init__(self, base: Settings, home: Path) -> None:
        first = free_cluster_ports(CLUSTER_MASTERS, shadow=CLUSTER_BUS_OFFSET)
        self.url = f"redis://127.0.0.1:{first}/0"
        self.settings = base.model_copy(
            update={
                "redis_url": SecretStr(self.url),
                "redis_cluster": True,
                "stack_managed": True,
                "state_dir": home,
            }
        )
        self.masters = cluster_masters(self.settings)

    def start(self) -> None:
        _up_redis_cluster(self.settings, print, timeout=60)

    def keys_per_master(self, pattern: str) -> dict[int, int]:
        counts = {}
        for master in self.masters:
            node = redis.Redis(host=master.host, port=master.port)
            counts[master.port] = sum(1 for _ in node.scan_iter(pattern, count=1000))
        return counts

    def stop(self) -> None:
        for master in self.masters:
            master.process.stop()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_until_ready(base_url: str, timeout: float) -> None:
    """Wait until the worker whose ops endpoints are at ``base_url`` answers /ready with 200."""
    eventually(lambda: http_get(f"{base_url}/ready")[0] == 200, timeout, f"{base_url} ready")


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric_value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@dataclass(frozen=True)
class TestCertificates:
    """A CA made for one test, and a broker key store it signed for 127.0.0.1."""

    ca_pem: Path
    keystore: Path
    password: SecretStr


def make_test_certificates(directory: Path) -> TestCertificates:
    """A self-signed CA and a broker certificate it signs (SAN IP:127.0.0.1, so clients can
    verify the host), made with the JDK's keytool, which the broker needs anyway."""
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)  # keytool reads an argument starting "-J" as a JVM option
    ca_store, keystore = directory / "ca.p12", directory / "broker.p12"
    ca_pem, csr, signed = directory / "ca.pem", directory / "broker.csr", directory / "broker.pem"
    common = ["-storetype", "PKCS12", "-storepass", password]

    def keytool(*args: str | Path) -> None:
        result = subprocess.run(
            ["keytool", *map(str, args)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"keytool {args[0]} failed: {result.stderr[-500:]}"

    new_key = ("-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2")
    ca = ("-alias", "ca", "-keystore", ca_store, *common)
    broker = ("-alias", "broker", "-keystore", keystore, *common)
    keytool(*new_key, "-dname", "CN=riskstream test CA", "-ext", "bc:c", *ca)
    keytool("-exportcert", "-rfc", "-file", ca_pem, *ca)
    keytool(*new_key, "-dname", "CN=127.0.0.1", *broker)
    keytool("-certreq", "-file", csr, *broker)
    san = "SAN=IP:127.0.0.1,DNS:localhost"
    keytool("-gencert", "-rfc", "-infile", csr, "-outfile", signed, "-ext", san, *ca)
    keytool("-importcert", "-noprompt", "-file", ca_pem, "-alias", "ca", *broker[2:])
    keytool("-importcert", "-file", signed, *broker)
    return TestCertificates(ca_pem, keystore, SecretStr(password))


def owns_partitions(worker: Any) -> bool:
    """Whether an in-process worker owns partitions, from its own gauge: calling
    ``consumer.assignment()`` from the test's thread while the worker's thread runs a
    rebalance callback inside ``consume()`` can deadlock."""
    owned = worker.metrics.registry.get_sample_value(
        "riskstream_assigned_partitions", {"processor": worker.metrics.processor}
    )
    return bool(owned)


def start_workers(workers: dict[str, Any], stop: threading.Event) -> dict[str, threading.Thread]:
    """Run each in-process worker on its own thread until ``stop`` is set."""
    threads = {
        name: threading.Thread(target=worker.run, args=(stop,), daemon=True, name=name)
        for name, worker in workers.items()
    }
    for thread in threads.values():
        thread.start()
    return threads


def wait_until_owning(workers: dict[str, Any], timeout: float = 90) -> None:
    """Return once every worker owns partitions; fail naming those still joining."""
    wait_for(lambda: all(map(owns_partitions, workers.values())), timeout)
    joining = [name for name, worker in workers.items() if not owns_partitions(worker)]
    assert not joining, f"never joined their groups: {joining}"
