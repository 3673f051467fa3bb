"""Faults the pipeline must ride out without a manual restart, on real services: Redis
restarting (it keeps nothing on disk) under running workers."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from riskstream.kafka.clients import codec_for, now_ms
from riskstream.settings import Settings
from riskstream.stack.manager import redis_ready
from riskstream.stack.redis_server import RedisServer
from riskstream.topics import PATIENT_RECORDS, PREDICTIONS
from stream_processors.joiner import Joiner
from stream_processors.monitor import Monitor
from stream_processors.scorer import Scorer
from stream_processors.window_store import WindowStore
from tests.integration.conftest import deployment_with_champion, drain_committed
from tests.unit.schemas.samples import SAMPLES

pytestmark = pytest.mark.integration
WINDOW_S = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of this test alone, so killing it disturbs no other test."""

    def __init__(self, base: Settings, home: Path) -> None:
        self.url = f"redis://127.0.0.1:{_free_port()}/0"
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


@pytest.fixture
def private_redis(stack: Settings, tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(stack, tmp_path / "redis-home")
    redis.start()
    yield redis
    redis.server.process.stop()


def _records(start: int, n: int) -> list[tuple[bytes, dict[str, object]]]:
    return [
        (
            f"p{i % 40}".encode(),
            {
                **SAMPLES["PatientRecord"],
                "request_id": f"r{i}",
                "patient_id": f"p{i % 40}",
                "event_time": now_ms(),
                "glucose": 90.0 + i % 60,
            },
        )
        for i in range(start, start + n)
    ]


def test_redis_restart_under_load_loses_no_prediction_and_never_judges_a_partial_window(
    stack: Settings, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    settings = deployment_with_champion(
        stack,
        "rr",
        tmp_path,
        redis_url=SecretStr(private_redis.url),
        monitor_window_s=WINDOW_S,
        monitor_lateness_s=1,
        drift_min_sample=20,
    )
    scorer, monitor, joiner = Scorer(settings), Monitor(settings), Joiner(settings)
    stop = threading.Event()
    threads = [
        threading.Thread(target=w.run, args=(stop,), daemon=True, name=name)
        for name, w in (("scorer", scorer), ("monitor", monitor), ("joiner", joiner))
    ]
    for t in threads:
        t.start()
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 5}))
    sent = 0
    began = time.monotonic()
    crashed = restarted = False
    cached_at_restart = 0
    while time.monotonic() - began < 24:  # 100 records/s for 24 s
        for key, record in _records(sent, 20):
            producer.produce(
                settings.topic(PATIENT_RECORDS.name),
                key=key,
                value=codec.encode("PatientRecord", record),
            )
        sent += 20
        producer.poll(0)
        elapsed = time.monotonic() - began
        if elapsed > 9 and not crashed:
            private_redis.crash()
            crashed = True
        if elapsed > 12 and not restarted:
            private_redis.start()
            restarted = True
            cached_at_restart = joiner.stats.predictions_cached
        time.sleep(0.2)
    assert producer.flush(30) == 0
    predictions = drain_committed(settings, PREDICTIONS.name, "Prediction", sent, timeout=90)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and monitor.stats.windows_closed < 5:
        time.sleep(0.5)
    alive = {t.name: t.is_alive() for t in threads}
    stop.set()
    for t in threads:
        t.join(30)

    assert alive == {"scorer": True, "monitor": True, "joiner": True}
    ids = [p["request_id"] for p in predictions]
    assert len(ids) == len(set(ids)) == sent  # the scorer never needed Redis
    assert joiner.stats.predictions_cached > cached_at_restart  # caching again afterwards
    assert monitor.stats.redis_restarts == 1
    assert monitor.stats.windows_incomplete >= 1

    # Every window the monitor judged holds exactly its records; the others say incomplete.
    size_ms = WINDOW_S * 1000
    expected = Counter(
        int(p["event_time"].timestamp() * 1000) // size_ms * size_ms for p in predictions
    )
    store = WindowStore(settings)
    version = predictions[0]["model_version"]
    judged = incomplete = 0
    for start, n in sorted(expected.items()):
        counts = store.counts(version, start)
        if counts.get(b"incomplete") == b"1":
            incomplete += 1
            continue
        if counts:
            judged += 1
            assert int(counts[b"n"]) == n, f"window {start}: {counts[b'n']} counted, {n} sent"
    assert incomplete == monitor.stats.windows_incomplete
    assert judged >= 3, "windows after the restart were counted and judged again"
    print(
        f"redis restart: {sent} records, {len(set(ids))} predictions, {judged} windows judged "
        f"exact, {incomplete} marked incomplete"
    )
