"""Apache Kafka 4.x, single node in KRaft mode, run from Maven Central jars on Java 17.

Kafka's shell scripts only wrap two main classes, which run the same with the jars on a
classpath: ``kafka.tools.StorageTool format`` prepares the log dir once, then
``kafka.Kafka server.properties`` runs the broker. The pom beside this file pins the version.
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

from riskstream.errors import StackError
from riskstream.settings import MASK, Settings
from riskstream.stack.processes import ManagedProcess

MAIN_CLASS = "kafka.Kafka"
JVM_OPTS = ("-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


def pom_path() -> Path:
    return Path(str(resources.files("riskstream.stack").joinpath("pom.xml")))


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
    """The local broker's files under ``<state_dir>/kafka`` and its process."""

    def __init__(self, settings: Settings, sasl_ssl: SaslSslListener | None = None) -> None:
        self.settings = settings
        self.sasl_ssl = sasl_ssl
        self.home = (settings.state_dir / "kafka").resolve()
        self.libs = self.home / "libs"
        self.data = self.home / "data"
        self.properties = self.home / "server.properties"
        self.host, self.port = split_host_port(settings.kafka_bootstrap, 9092)
        self.controller_port = settings.stack_controller_port
        self.process = ManagedProcess(
            "kafka",
            pidfile=(settings.state_dir / "run" / "kafka.pid").resolve(),
            logfile=self.home / "kafka.log",
            marker=MAIN_CLASS,
        )

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
        log_path = self.home / "mvn.log"
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
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data),
            "num.partitions": str(self.settings.topic_partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
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

    def format_storage(self) -> None:
        cluster_id = cluster_id_from(uuid.uuid4().bytes)
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
