"""Apache Kafka 4.x in KRaft mode, one node or a cluster of a few, run from Maven Central jars
on Java 17.

Kafka's shell scripts only wrap two main classes, which run the same with the jars on a
classpath: ``kafka.tools.StorageTool format`` prepares the log dir once, then
``kafka.Kafka server.properties`` runs the broker. The pom beside this file pins the version.

A cluster (``stack up --brokers 3``) runs every node as broker and controller, with a static
quorum of all of them, so it survives losing any one: its topics are replicated to three
nodes with ``min.insync.replicas=2``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import SecretStr

from riskstream.app.stack.processes import ManagedProcess, numbered_pidfiles
from riskstream.core.errors import StackError
from riskstream.core.settings import MASK
from riskstream.core.slices import LocalStackSettings

MAIN_CLASS = "kafka.Kafka"
JVM_OPTS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


def pom_path() -> Path:
    return Path(str(resources.files("riskstream.app.stack").joinpath("pom.xml")))


def pinned_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom_path().read_text())
    if not match:
        raise StackError("the stack pom pins no kafka.version", pom=pom_path())
    return match.group(1)


def cluster_id_from(raw: bytes) -> str:
    """Base64 of 16 random bytes whose first character is never ``-`` or ``_``.

    StorageTool parses arguments with argparse, which reads an id starting with ``-`` as an
    option; Kafka's own Uuid.randomUuid avoids such ids for the same reason. Clearing the top
    bit of the first byte keeps the first base64 digit below 32, a letter.
    """
    if len(raw) != 16:
        raise StackError("a Kafka cluster id needs 16 bytes", got=len(raw))
    first = bytes([raw[0] & 0x7F])
    return base64.urlsafe_b64encode(first + raw[1:]).decode().rstrip("=")


@dataclass(frozen=True)
class NodeAddress:
    """Where one node of the local cluster listens."""

    node_id: int
    host: str
    port: int
    controller_port: int


def node_addresses(bootstrap: str, controller_port: int, brokers: int) -> list[NodeAddress]:
    """The nodes of a local cluster of ``brokers``: node ``i`` (from 1) listens where the
    bootstrap's ``i``-th address says, or, when the bootstrap names fewer, two ports above the
    node before it; controller ports likewise step by two from ``controller_port``
    (9092/9093, 9094/9095, 9096/9097 by default)."""
    if brokers < 1:
        raise StackError("a cluster needs at least one broker", brokers=brokers)
    listed = [split_host_port(a, 9092) for a in bootstrap.split(",") if a.strip()]
    host, first = listed[0]
    nodes = []
    for i in range(brokers):
        node_host, port = listed[i] if len(listed) == brokers else (host, first + 2 * i)
        nodes.append(NodeAddress(i + 1, node_host, port, controller_port + 2 * i))
    used = [n.port for n in nodes] + [n.controller_port for n in nodes]
    if len(set(used)) != len(used):
        raise StackError(
            "the cluster's client and controller ports overlap",
            ports=sorted(used),
            hint="move RISKSTREAM_STACK_CONTROLLER_PORT away from the bootstrap ports",
        )
    return nodes


def cluster_bootstrap(nodes: list[NodeAddress]) -> str:
    return ",".join(f"{n.host}:{n.port}" for n in nodes)


def replication_properties(brokers: int) -> dict[str, str]:
    """Replication of the internal and new topics: three copies, two in sync, as far as the
    cluster has nodes (one node: one copy, and no controlled shutdown).

    A controlled shutdown hands each partition's leadership to another replica before the
    node stops. With one copy there is none, so every partition is left without a leader
    while the node's transaction coordinator still runs, and Kafka 4.3 then skips the
    markers of a transaction that is committing (KAFKA-20734, open): it takes a partition
    with no leader for a deleted one. The transaction's records and its consumer offsets
    stay pending for good, and the scorer's group reads UNSTABLE_OFFSET_COMMIT forever
    (seen in the broker-restart fault test under load, 2026-12-06). Without controlled
    shutdown the node stops as after a crash, and on restart its coordinator finishes the
    commit.
    """
    copies, in_sync = str(min(3, brokers)), str(min(2, brokers))
    return {
        "controlled.shutdown.enable": "true" if brokers > 1 else "false",
        "default.replication.factor": copies,
        "min.insync.replicas": in_sync,
        "offsets.topic.replication.factor": copies,
        "transaction.state.log.replication.factor": copies,
        "transaction.state.log.min.isr": in_sync,
        "share.coordinator.state.topic.replication.factor": copies,
        "share.coordinator.state.topic.min.isr": in_sync,
    }


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    first = address.split(",")[0].strip()
    first = first.split("://")[-1]
    host, _, port = first.rpartition(":")
    if not host:
        return first, default_port
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener (SCRAM over TLS) in place of the PLAINTEXT one: the broker's TLS key
    store, and the SCRAM users written into the log dir when it is formatted. The first user is
    the broker's own, for inter-broker traffic."""

    keystore: Path  # PKCS12: the broker's key and certificate, and the CA that signed it
    keystore_password: SecretStr
    users: Mapping[str, SecretStr]
    mechanism: str = "SCRAM-SHA-512"

    def properties(self) -> dict[str, str]:
        user, password = next(iter(self.users.items()))
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user}" password="{password.get_secret_value()}";'
        )
        prefix = f"listener.name.sasl_ssl.{self.mechanism.lower()}"
        return {
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"{prefix}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.keystore_password.get_secret_value(),
            # the broker talks to itself over this listener, so it must trust its own CA
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(self.keystore),
            "ssl.truststore.password": self.keystore_password.get_secret_value(),
            "ssl.client.auth": "none",
        }

    def scram_arguments(self) -> list[str]:
        """StorageTool ``--add-scram`` arguments, one per user."""
        return [
            f"--add-scram={self.mechanism}=[name={user},password={password.get_secret_value()}]"
            for user, password in self.users.items()
        ]


class KafkaBroker:
    """One local node's files and its process: ``<state_dir>/kafka`` for a single broker,
    ``<state_dir>/kafka/node-<id>`` for a node of a cluster (the jars are shared)."""

    def __init__(
        self,
        settings: LocalStackSettings,
        sasl_ssl: SaslSslListener | None = None,
        node_id: int = 1,
        brokers: int = 1,
    ) -> None:
        self.settings = settings
        self.sasl_ssl = sasl_ssl
        self.node_id, self.brokers = node_id, brokers
        self.nodes = node_addresses(
            settings.kafka_bootstrap, settings.stack_controller_port, brokers
        )
        root = (settings.state_dir / "kafka").resolve()
        self.home = root if brokers == 1 else root / f"node-{node_id}"
        self.libs = root / "libs"
        self.cluster_id_file = root / "cluster-id"
        self.data = self.home / "data"
        self.properties = self.home / "server.properties"
        me = self.nodes[node_id - 1]
        self.host, self.port, self.controller_port = me.host, me.port, me.controller_port
        name = "kafka" if brokers == 1 else f"kafka-{node_id}"
        self.process = ManagedProcess(
            name,
            pidfile=(settings.state_dir / "run" / f"{name}.pid").resolve(),
            logfile=self.home / "kafka.log",
            marker=MAIN_CLASS,
        )

    @property
    def name(self) -> str:
        return self.process.name

    # -- jars ---------------------------------------------------------------------------

    def _pom_digest(self) -> str:
        return hashlib.sha256(pom_path().read_bytes()).hexdigest()[:16]

    def jars_ready(self) -> bool:
        stamp = self.libs / ".pom-sha256"
        return stamp.exists() and stamp.read_text().strip() == self._pom_digest()

    def fetch_jars(self, on_line: Callable[[str], None] | None = None) -> None:
        """Resolve the pinned broker's jars with mvn into ``libs/`` (first run only)."""
        if self.jars_ready():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central",
                hint="install it: apt-get install -y maven (Debian/Ubuntu)",
            )
        if shutil.which("java") is None:
            raise StackError(
                "java is not on PATH; the Kafka broker needs Java 17 or newer",
                hint="install it: apt-get install -y openjdk-17-jre-headless",
            )
        if self.libs.exists():
            shutil.rmtree(self.libs)
        self.libs.mkdir(parents=True)
        log_path = self.libs.parent / "mvn.log"
        argv = [
            mvn,
            "-B",
            "--no-transfer-progress",
            "-f",
            str(pom_path()),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.libs}",
        ]
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if on_line and ("Copying" in line or "Downloading" in line or "Downloaded" in line):
                    on_line(line.strip())
            code = proc.wait()
        if code != 0:
            tail = "\n".join(log_path.read_text().splitlines()[-15:])
            raise StackError(
                f"mvn could not fetch the Kafka jars (exit {code})",
                hint=f"check network access to Maven Central; full log: {log_path}\n{tail}",
            )
        (self.libs / ".pom-sha256").write_text(self._pom_digest())

    # -- storage and config -------------------------------------------------------------

    def write_properties(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in self.nodes)
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": str(self.settings.topic_partitions),
            "offsets.topic.num.partitions": "6",
            **replication_properties(self.brokers),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": "60000",
        }
        if self.sasl_ssl is not None:
            lines["listeners"] = lines["listeners"].replace("PLAINTEXT://", "SASL_SSL://")
            lines["advertised.listeners"] = f"SASL_SSL://{self.host}:{self.port}"
            lines.update(self.sasl_ssl.properties())
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))

    def formatted(self) -> bool:
        return (self.data / "meta.properties").exists()

    def cluster_id(self) -> str:
        """The id every node of this cluster is formatted with, made once and kept."""
        if not self.cluster_id_file.exists():
            self.cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
            self.cluster_id_file.write_text(cluster_id_from(uuid.uuid4().bytes))
        return self.cluster_id_file.read_text().strip()

    def format_storage(self) -> None:
        cluster_id = self.cluster_id() if self.brokers > 1 else cluster_id_from(uuid.uuid4().bytes)
        result = subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                f"--config={self.properties}",
                *(self.sasl_ssl.scram_arguments() if self.sasl_ssl else []),
            ],
            capture_output=True,
            text=True,
            cwd=self.home,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-2000:]
            for password in self.sasl_ssl.users.values() if self.sasl_ssl else ():
                output = output.replace(password.get_secret_value(), MASK)
            raise StackError(
                "Kafka's StorageTool could not format the log dir",
                data=self.data,
                hint=f"delete {self.data} and retry.\n{output}",
            )

    def _java(self) -> list[str]:
        return ["java", *JVM_OPTS, "-cp", f"{self.libs}/*"]

    def start(self) -> int:
        return self.process.start([*self._java(), MAIN_CLASS, str(self.properties)], cwd=self.home)


def local_nodes(
    settings: LocalStackSettings, sasl_ssl: SaslSslListener | None = None
) -> list[KafkaBroker]:
    """The nodes ``stack up`` runs for these settings (``stack_brokers`` of them)."""
    brokers = settings.stack_brokers
    return [KafkaBroker(settings, sasl_ssl, i, brokers) for i in range(1, brokers + 1)]


def started_nodes(settings: LocalStackSettings) -> list[KafkaBroker]:
    """Every node with a pid file under the state dir, whatever the cluster size now asked
    for: ``down`` stops what ``up`` started."""
    ids = numbered_pidfiles(settings.state_dir / "run", "kafka")
    single = KafkaBroker(settings)
    nodes = [single] if not ids or single.process.pidfile.exists() else []
    return nodes + [KafkaBroker(settings, None, i, max(ids)) for i in ids]
