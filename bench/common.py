"""What every benchmark needs: a deployment on the real stack, records to push through it,
rates read off broker timestamps, and worker processes whose peak memory can be read."""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from riskstream.app.stack.manager import kafka_ready, redis_ready, stack_up
from riskstream.core.settings import Settings, load_settings
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.factory import reader
from riskstream.io.kafka.reading import partitions_of, watermarks
from riskstream.models.bootstrap import BootstrapReport, bootstrap, bundled_set
from riskstream.models.training import TrainingResult, train
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator

REPO = Path(__file__).resolve().parents[1]
Echo = Callable[[str], None]
# a pickled training of the bundled set (seed 0) to reuse: the smoke tests pass the one their
# session did, so that seven benchmark processes do not each train the same model again
TRAINED_FILE_ENV = "BENCH_TRAINED_FILE"


@functools.lru_cache(maxsize=1)
def bundled_training() -> TrainingResult:
    """The bootstrap's training on Pima.tr2 (seed 0), done once per process (it is
    deterministic for a seed), or read from the file ``BENCH_TRAINED_FILE`` names."""
    path = os.environ.get(TRAINED_FILE_ENV)
    if path:
        trained: TrainingResult = pickle.loads(Path(path).read_bytes())
        return trained
    pima = bundled_set()
    return train(pima.raw, pima.y, seed=0)


def bootstrapped(settings: Settings) -> BootstrapReport:
    """Register the bundled training in ``settings``'s registry, as ``riskstream model train``
    would (champion if none exists, else challenger)."""
    return bootstrap(settings, trained=copy.deepcopy(bundled_training()))


def base_settings(echo: Echo) -> Settings:
    """The environment's cluster, else the local stack (started if it is not up)."""
    settings = load_settings()
    if not (kafka_ready(settings) and redis_ready(settings)):
        echo("starting the local stack (riskstream stack up)")
        stack_up(settings, echo=echo, timeout=180)
    return settings.model_copy(update={"stack_managed": False})


# The topic prefixes this run's benchmarks used: bench.run removes their topics and Redis
# keys at its end (a run leaves gigabytes of records, and a broker with thousands of leftover
# topics runs out of open files).
NAMESPACES: set[str] = set()


def bench_prefix(stem: str) -> str:
    """A fresh topic prefix for one benchmark deployment, removed when the run ends."""
    prefix = f"{stem}{uuid.uuid4().hex[:6]}."
    NAMESPACES.add(prefix)
    return prefix


def deployment(base: Settings, stem: str, state_dir: Path, **changes: Any) -> Settings:
    """Own topics (6 partitions) and MLflow store, with a bootstrapped champion."""
    settings = base.model_copy(
        update={
            "topic_prefix": bench_prefix(stem),
            "topic_partitions": 6,
            "state_dir": state_dir,
            "log_level": "WARNING",
            **changes,
        }
    )
    ensure_topics(settings)
    bootstrapped(settings)
    return settings


def produce_records(settings: Settings, count: int, seed: int = 0) -> int:
    """``count`` simulated PatientRecords onto patient-records, keyed by patient id."""
    publisher = Publisher(settings)
    sim = Simulator(PimaModel.fit(), Scenario(), seed=seed, run=uuid.uuid4().hex[:6])
    for item in sim.stream(count, int(time.time() * 1000)):
        publisher.send_record(item.record)
    summary = publisher.finish(PublishSummary(sent=count), timeout=60)
    if summary.failed:
        raise RuntimeError(f"{summary.failed} benchmark records were not delivered")
    return count


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = reader(settings)
    try:
        parts = partitions_of(consumer, topic)
        return {p: watermarks(consumer, TopicPartition(topic, p))[1] for p in parts}
    finally:
        consumer.close()


def read_messages(
    settings: Settings, topic: str, since: dict[int, int], expected: int, timeout: float
) -> list[Message]:
    """The committed messages past ``since``: waits for ``expected`` of them or ``timeout``."""
    consumer = Consumer(
        settings.kafka_config(
            {"group.id": f"bench-read-{uuid.uuid4().hex}", "isolation.level": "read_committed"}
        )
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in since.items()])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += [m for m in consumer.consume(5000, 0.5) if not m.error()]
    consumer.close()
    return messages


def read_timestamps(
    settings: Settings, topic: str, since: dict[int, int], expected: int, timeout: float
) -> list[int]:
    """Broker timestamps (ms) of the committed messages past ``since``: waits for
    ``expected`` of them or ``timeout``."""
    return [m.timestamp()[1] for m in read_messages(settings, topic, since, expected, timeout)]


def rate_of(stamps: list[int]) -> float:
    """Records per second between the first and the last output (start-up excluded)."""
    if len(stamps) < 2:
        return 0.0
    span = (max(stamps) - min(stamps)) / 1000
    return (len(stamps) - 1) / span if span > 0 else float("inf")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def wait_until_group_owns(
    settings: Settings, group: str, members: int, partitions: int, timeout: float
) -> None:
    """Wait until consumer group ``group`` (unprefixed) has ``members`` members, each with
    some of its ``partitions`` partitions and all of them taken: the group is up."""
    admin = AdminClient(settings.kafka_config())
    prefixed = settings.topic_prefix + group
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (future,) = admin.describe_consumer_groups([prefixed], request_timeout=10).values()
        owned = [len(m.assignment.topic_partitions) for m in future.result().members]
        if len(owned) == members and all(owned) and sum(owned) == partitions:
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"group {prefixed} did not reach {members} member(s) owning {partitions} partitions "
        f"in {timeout:.0f} s: see the workers' output above"
    )


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(
    pids: list[int], quiet_s: float = 1.0, busy_share: float = 0.05, timeout: float = 30.0
) -> bool:
    """Wait until the processes together used under ``busy_share`` of a core over
    ``quiet_s`` (a worker that has just joined its group has work of its own to finish);
    False if they were still busy after ``timeout``: a settling wait, not a check."""
    deadline = time.monotonic() + timeout
    used = sum(cpu_seconds(p) for p in pids)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = sum(cpu_seconds(p) for p in pids)
        if now - used < busy_share * quiet_s:
            return True
        used = now
    return False


def start_group_at_end(settings: Settings, group: str, topics: list[str]) -> None:
    """Commit ``group`` at the current end of ``topics``: a worker of that group starting now
    sees only what arrives from now on."""
    consumer = Consumer(settings.kafka_config({"group.id": settings.topic_prefix + group}))
    offsets = [
        TopicPartition(topic, p, o)
        for topic in topics
        for p, o in end_offsets(settings, topic).items()
    ]
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()


def forget_group(settings: Settings, group: str) -> None:
    """Delete a consumer group, so the next run reads the topic from the start."""
    admin = AdminClient(settings.kafka_config())
    for future in admin.delete_consumer_groups([group], request_timeout=10).values():
        with contextlib.suppress(Exception):  # a group that never existed is forgotten already
            future.result()


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    return {
        **env,
        **settings.worker_environment(),
        "RISKSTREAM_LOG_LEVEL": "WARNING",
        "RISKSTREAM_OPS_PORT": "0",
    }


def _status_mib(pid: int | str, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int | str = "self") -> float:
    """VmRSS: the process's resident set now, in MiB."""
    return _status_mib(pid, "VmRSS")


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM: the process's peak resident set, in MiB."""
    return _status_mib(pid, "VmHWM")


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> float:
        """SIGTERM it; returns its peak RSS in MiB, read just before."""
        rss = peak_rss_mb(self.proc.pid) if self.proc.poll() is None else float("nan")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return rss


@contextmanager
def workers(
    settings: Settings, python: str = sys.executable, /, **argvs: list[str]
) -> Iterator[dict[str, Worker]]:
    """Worker processes by name (``python -m <argv>``: the CLI or any module; ``python``: the
    interpreter, another venv's for a peer), stopped on exit."""
    started: dict[str, Worker] = {}
    try:
        for name, argv in argvs.items():
            cmd = [python, "-m", *argv]
            proc = subprocess.Popen(cmd, env=worker_env(settings), cwd=REPO)
            started[name] = Worker(name, proc)
        yield started
    finally:
        for w in started.values():
            if w.proc.poll() is None:
                w.stop()


def run_argv(worker: str, *extra: str) -> list[str]:
    return ["riskstream.app.cli.main", "run", worker, *extra]
