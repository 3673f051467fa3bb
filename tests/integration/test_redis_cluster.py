"""The Redis-backed workers on a Redis Cluster of three masters (as `stack up --redis-cluster`
runs it): the monitor's Lua scripts find their keys in one slot, the joiner's cache spreads
over every master, and the trigger keeps its state, with exact counts throughout."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import LABELED_EXAMPLES, PREDICTIONS
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.scorer import Scorer
from riskstream.stream_processors.trigger import Trigger
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import deployment_with_champion, drain_committed
from tests.integration.servers import PrivateRedisCluster, start_workers, wait_until_owning
from tests.integration.traffic import send_records_and_labels, window_counts
from tests.waiting import eventually

pytestmark = pytest.mark.integration
WINDOW_S = 4
SENT = 1500
LABELS_PER_REQUEST = 200  # several label-count requests between the drift ones


@pytest.fixture
def redis_cluster(stack: Settings, tmp_path: Path) -> Iterator[PrivateRedisCluster]:
    cluster = PrivateRedisCluster(stack, tmp_path / "redis-cluster-home")
    cluster.start()
    yield cluster
    cluster.stop()


def test_monitor_joiner_and_trigger_count_exactly_on_a_redis_cluster(
    stack: Settings, tmp_path: Path, redis_cluster: PrivateRedisCluster
) -> None:
    settings = deployment_with_champion(
        stack,
        "rc",
        tmp_path,
        redis_url=redis_cluster.settings.redis_url,
        redis_cluster=True,
        monitor_window_s=WINDOW_S,
        monitor_lateness_s=1,
        monitor_idle_s=3.0,  # once the traffic stops, the clock closes the last window
        trigger_label_count=LABELS_PER_REQUEST,
        trigger_cooldown_s=0,
    )
    monitor, joiner, trigger = Monitor(settings), Joiner(settings), Trigger(settings)
    workers = {"scorer": Scorer(settings), "monitor": monitor, "joiner": joiner, "trigger": trigger}
    stop = threading.Event()
    threads = start_workers(workers, stop)
    wait_until_owning(workers)
    predictions, examples = _send_records_and_labels(settings)
    windows = window_counts(predictions, WINDOW_S)
    eventually(
        lambda: monitor.stats.windows_closed >= len(windows) and trigger.requests,
        30,
        "every window closed and a retrain asked for",
    )
    eventually(  # the trigger saves its state after the batch that asked
        lambda: Trigger(settings).load_state() == trigger._state, 30, "the trigger's state saved"
    )
    dead = [name for name, thread in threads.items() if not thread.is_alive()]
    stop.set()
    for thread in threads.values():
        thread.join(60)
    assert not dead, f"died on the cluster: {dead}"
    assert monitor.stats.alerts, monitor.stats

    ids = [p["request_id"] for p in predictions]
    assert len(ids) == len(set(ids)) == SENT
    joined = Counter(e["request_id"] for e in examples)
    assert len(joined) == SENT and max(joined.values()) == 1, joiner.stats
    store = WindowStore(settings)
    version = predictions[0]["model_version"]
    counted = {start: int(store.counts(version, start).get(b"n", 0)) for start in windows}
    assert counted == windows, f"window counts not exact; the monitor counted {monitor.stats}"
    assert (monitor.stats.windows_closed, monitor.stats.late) == (len(windows), 0), monitor.stats
    # The records drift from the reference (glucose 90-149), so the monitor's alerts reach the
    # trigger as well as the labels; with no cooldown each asks for a retrain.
    reasons = Counter(reason for _, request in trigger.requests for reason in request.reasons)
    assert reasons["LABEL_COUNT"] >= 1 and reasons["DRIFT_ALERT"] >= 1, reasons
    state = Trigger(settings).load_state()  # read back from the cluster by another trigger
    assert state == trigger._state and state.last_request_ms is not None, state
    # a real cluster: the joiner's per-request keys landed on every master
    spread = redis_cluster.keys_per_master(f"{settings.topic_prefix}riskstream:prediction:*")
    assert all(n > 0 for n in spread.values()), spread
    assert sum(spread.values()) == SENT, spread
    print(
        f"redis cluster: {SENT} predictions and {len(examples)} labeled examples, all distinct; "
        f"{len(windows)} windows exact; joiner cache per master {spread}; trigger state {state}"
    )


def _send_records_and_labels(
    settings: Settings,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SENT records and their labels, 300 of each a second; the predictions and labeled
    examples once all are committed."""
    producer = Producer(settings.kafka_config({"enable.idempotence": True, "linger.ms": 5}))
    for sent in range(0, SENT, 30):
        send_records_and_labels(producer, settings, sent, 30)
        producer.poll(0)
        time.sleep(0.1)
    assert producer.flush(60) == 0
    predictions = drain_committed(settings, PREDICTIONS.name, "Prediction", SENT, timeout=90)
    examples = drain_committed(settings, LABELED_EXAMPLES.name, "LabeledExample", SENT, 90)
    return predictions, examples
