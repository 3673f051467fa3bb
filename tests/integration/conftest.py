"""The real Kafka broker and Redis for integration tests.

Where they come from, in order:
1. addresses in the environment (RISKSTREAM_KAFKA_BOOTSTRAP and RISKSTREAM_REDIS_URL);
2. testcontainers (apache/kafka, redis) where a Docker engine answers;
3. the project's local stack (`riskstream stack up`: Kafka from Maven Central jars on Java 17,
   redis-server from PATH), stopped again at the end if this session started it.
These tests never skip for want of a broker: they fail and say how to get one.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Message

from bench.common import bundled_training  # one training per session, shared with the benchmarks
from riskstream.app.stack import stack_down, stack_up
from riskstream.app.stack.manager import kafka_ready, redis_ready
from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import Settings
from riskstream.io.kafka.admin import ensure_topics
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.reading import Start, messages
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
KAFKA_IMAGE = "apache/kafka:4.1.1"
HOW_TO_GET_A_STACK = (
    "no Kafka/Redis for the integration tests. Either run `riskstream stack up` "
    "(needs java 17, mvn and redis-server: `apt-get install -y maven redis-server`), or set "
    "RISKSTREAM_KAFKA_BOOTSTRAP and RISKSTREAM_REDIS_URL to a running cluster."
)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _from_environment() -> Settings | None:
    if "RISKSTREAM_KAFKA_BOOTSTRAP" not in os.environ:
        return None
    settings = Settings()
    if not kafka_ready(settings, timeout=10) or not redis_ready(settings):
        pytest.fail(
            f"RISKSTREAM_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} or RISKSTREAM_REDIS_URL "
            f"does not answer. {HOW_TO_GET_A_STACK}"
        )
    return settings


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """Settings that point at a live broker and Redis, whatever provides them."""
    settings = _from_environment()
    if settings is not None:
        yield settings
        _remove_namespaces_made(settings)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as kafka, RedisContainer() as redis:
            host = redis.get_container_host_ip()
            port = redis.get_exposed_port(6379)
            yield Settings(
                kafka_bootstrap=kafka.get_bootstrap_server(),
                redis_url=f"redis://{host}:{port}/0",  # type: ignore[arg-type]
                state_dir=REPO / ".riskstream",
            )
        return
    local = Settings(state_dir=REPO / ".riskstream")
    with _shared_local_stack(local):
        # Explicit addresses: the tests below must never start a second stack.
        yield local.model_copy(update={"stack_managed": False})
        _remove_namespaces_made(local)


# The topic prefixes this test process gave deployments. Their topics and Redis keys go when
# the session ends: a checkout whose local stack ran the suite again and again had 7,480
# leftover topics, and the broker died of too many open files.
_NAMESPACES: set[str] = set()


def fresh_prefix(stem: str) -> str:
    """A topic prefix no deployment has used, removed with its data at the session's end."""
    prefix = f"{stem}{uuid.uuid4().hex[:10]}."
    _NAMESPACES.add(prefix)
    return prefix


def _remove_namespaces_made(settings: Settings) -> None:
    from riskstream.app.demo_runs import remove_namespaces

    if not _NAMESPACES:
        return
    try:
        topics, keys = remove_namespaces(settings, _NAMESPACES)
    except Exception as exc:  # a failed clean-up must not fail the session's tests
        print(f"could not remove this session's {len(_NAMESPACES)} test namespaces: {exc}")
        return
    print(f"removed {topics} topics and {keys} Redis keys of {len(_NAMESPACES)} test namespaces")
    _NAMESPACES.clear()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _shared_local_stack(local: Settings) -> Iterator[None]:
    """The local stack, shared by this run's pytest workers (pytest-xdist runs the session
    fixture once per worker): the first to arrive starts it unless it was up already, and the
    last to leave stops what this run started."""
    local.state_dir.mkdir(parents=True, exist_ok=True)
    lock, users = local.state_dir / "test-stack.lock", local.state_dir / "test-stack.users"
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"serial-{os.getpid()}")
    with _locked(lock):
        record = json.loads(users.read_text()) if users.exists() else {}
        if record.get("run") != run:
            was_up = kafka_ready(local) and redis_ready(local)
            record = {"run": run, "users": 0, "started": not was_up}
        try:
            stack_up(local, echo=print, timeout=180)
        except RiskstreamError as exc:
            pytest.fail(f"`riskstream stack up` failed: {exc}\n{HOW_TO_GET_A_STACK}")
        record["users"] += 1
        users.write_text(json.dumps(record))
    try:
        yield
    finally:
        with _locked(lock):
            record = json.loads(users.read_text())
            record["users"] -= 1
            users.write_text(json.dumps(record))
            if record["users"] == 0 and record["started"]:
                stack_down(local, echo=print)


_STATE_DIRS: dict[str, Path] = {}  # per test module, in this worker process
_SHARED: dict[str, Settings] = {}  # the deployments of modules that share one


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest, stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A fresh deployment on the shared stack: its own topic prefix, so its own topics, Redis
    keys and consumer groups. The test module's ``DEPLOYMENT`` dict shapes it:

    - ``stem``: the prefix's first letters (default ``t``);
    - ``champion``: create the catalog's topics and bootstrap a champion into a registry
      under the module's state dir (``publish``: announce it on model-versions too);
    - ``topics``: create the catalog's topics;
    - ``shared``: one deployment for the whole module (its tests only add their own data);
    - any other key: a Settings field (``topic_partitions``, window sizes, ...).
    """
    spec = dict(getattr(request.module, "DEPLOYMENT", {}))
    module = request.module.__name__
    if module not in _STATE_DIRS:
        _STATE_DIRS[module] = tmp_path_factory.mktemp(module.rsplit(".", 1)[-1])
    if not spec.pop("shared", False):
        return _deploy(stack, _STATE_DIRS[module], **spec)
    if module not in _SHARED:
        _SHARED[module] = _deploy(stack, _STATE_DIRS[module], **spec)
    return _SHARED[module]


def _deploy(
    stack: Settings,
    state_dir: Path,
    stem: str = "t",
    champion: bool = False,
    publish: bool = False,
    topics: bool = False,
    **changes: Any,
) -> Settings:
    if champion:
        partitions = changes.pop("topic_partitions", 3)
        return deployment_with_champion(stack, stem, state_dir, partitions, publish, **changes)
    settings = stack.model_copy(update={"topic_prefix": fresh_prefix(stem), **changes})
    if topics:
        ensure_topics(settings)
    return settings


@pytest.fixture
def topics(deployment: Settings) -> Settings:
    """``deployment`` with every catalog topic created (3 partitions, to keep tests quick)."""
    settings = deployment.model_copy(update={"topic_partitions": 3})
    ensure_topics(settings)
    return settings


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda stem: f"{stem}-{uuid.uuid4().hex[:8]}"


def deployment_with_champion(
    base: Settings,
    stem: str,
    state_dir: Path,
    partitions: int = 3,
    publish: bool = False,
    **changes: object,
) -> Settings:
    """A fresh deployment (own topic prefix, catalog topics, MLflow store under ``state_dir``)
    whose registry holds a bootstrapped champion."""
    from riskstream.io.kafka.model_events import publish_model_event
    from riskstream.models.bootstrap import bootstrap
    from riskstream.models.registry import CHAMPION

    settings = base.model_copy(
        update={
            "topic_prefix": fresh_prefix(stem),
            "topic_partitions": partitions,
            "state_dir": state_dir,
            **changes,
        }
    )
    ensure_topics(settings)
    report = bootstrap(settings, trained=copy.deepcopy(bundled_training()))
    if publish:
        publish_model_event(settings, report.event)
    assert report.alias == CHAMPION, report.reason
    return settings


def read_messages(
    settings: Settings, topic: str, expected: int, timeout: float = 30.0, quiet_s: float = 0.0
) -> list[Message]:
    """The committed messages of ``topic`` (a full name), read from its start by a group of its
    own until ``expected`` have come and ``quiet_s`` pass without another (so a duplicate
    would be seen too); what came, if ``timeout`` runs out first."""
    consumer = Consumer(
        settings.kafka_config(
            {
                "group.id": f"check-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    last = [time.monotonic()]

    def complete() -> bool:
        fresh = [m for m in consumer.consume(500, 0.3) if not m.error()]
        if fresh:
            messages.extend(fresh)
            last[0] = time.monotonic()
        return len(messages) >= expected and time.monotonic() - last[0] >= quiet_s

    try:
        wait_for(complete, timeout, every=0)
    finally:
        consumer.close()
    return messages


def decoded(
    settings: Settings, topic: str, event_type: str, start: Start = "beginning"
) -> Iterator[dict[str, Any]]:
    """The events of ``topic`` as the Avro reader schema's dicts (datetimes for times), to
    compare with what a test wrote."""
    codec = codec_for(settings)
    for m in messages(settings, topic, start):
        yield codec.decode(m.value(), event_type)


def drain_committed(
    settings: Settings, topic: str, event_type: str, expected: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Committed events of a catalog topic, read from the start until ``expected`` have
    arrived and 2 s pass without another (so duplicates would be seen too)."""
    codec = codec_for(settings)
    read = read_messages(settings, settings.topic(topic), expected, timeout, quiet_s=2)
    return [codec.decode(m.value(), event_type) for m in read]


def worker_env(settings: Settings) -> dict[str, str]:
    """The ``RISKSTREAM_*`` variables that point a CLI or worker subprocess at ``settings``'s
    deployment (and nothing else from the caller's environment)."""
    return settings.worker_environment()


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment minus its ``RISKSTREAM_*``, plus ``worker_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKSTREAM_")}
    return {**env, **worker_env(settings), **extra}
