import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from riskstream.io.ops import LATENCY_BUCKETS, OpsServer, WorkerMetrics, partition_lag
from tests.unit.schemas.samples import drift_alert


def test_partition_lag_counts_from_the_position_to_the_stable_end() -> None:
    assert partition_lag({"app_offset": 90, "ls_offset": 100, "hi_offset": 105}) == 10
    assert partition_lag({"app_offset": 90, "ls_offset": -1, "hi_offset": 105}) == 15
    assert partition_lag({"app_offset": -1001, "hi_offset": 10, "consumer_lag": 4}) == 4
    assert partition_lag({"app_offset": -1001, "hi_offset": 10, "consumer_lag": -1}) is None


def test_stats_callback_sets_lag_per_partition_and_skips_the_internal_one() -> None:
    m = WorkerMetrics("scorer")
    stats = {
        "topics": {
            "predictions": {
                "partitions": {
                    "0": {"app_offset": 5, "ls_offset": 12},
                    "-1": {"app_offset": -1001, "hi_offset": -1001},
                }
            }
        }
    }
    m.on_stats(json.dumps(stats))
    m.on_stats("not json")  # ignored, never raises inside librdkafka's callback
    assert (
        m.registry.get_sample_value(
            "riskstream_consumer_lag",
            {"processor": "scorer", "topic": "predictions", "partition": "0"},
        )
        == 7
    )
    assert (
        m.registry.get_sample_value(
            "riskstream_consumer_lag",
            {"processor": "scorer", "topic": "predictions", "partition": "-1"},
        )
        is None
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_and_readiness_follow_the_worker() -> None:
    m = WorkerMetrics("joiner", stall_s=0.2)
    server = OpsServer(m, "127.0.0.1", 0).start()
    try:
        assert _get(f"{server.address}/ready") == (503, "not ready\n")
        m.ready = True
        m.beat()
        assert _get(f"{server.address}/ready") == (200, "ready\n")
        assert _get(f"{server.address}/health") == (200, "ok\n")
        time.sleep(0.3)  # no beat: the loop is stuck
        assert _get(f"{server.address}/health") == (503, "stalled\n")
        m.records_out("labeled-examples", 3)
        m.alert(drift_alert(kind="PERFORMANCE", severity="HIGH", status="FIRING"))
        status, text = _get(f"{server.address}/metrics")
        assert status == 200
        assert (
            'riskstream_records_out_total{processor="joiner",topic="labeled-examples"} 3.0' in text
        )
        assert (
            'riskstream_alerts_total{kind="PERFORMANCE",segment="all",'
            'severity="HIGH",status="FIRING"} 1.0' in text
        )
    finally:
        server.close()


def test_a_taken_port_is_reported_not_fatal() -> None:
    from riskstream.io.ops import serve_ops

    first = OpsServer(WorkerMetrics("scorer"), "127.0.0.1", 0).start()
    try:
        port = int(first.address.rsplit(":", 1)[1])
        assert serve_ops(WorkerMetrics("scorer"), "127.0.0.1", port) is None
    finally:
        first.close()


def test_rebalance_callbacks_track_the_assigned_partitions() -> None:
    metrics = WorkerMetrics("scorer")
    callbacks = metrics.rebalance_callbacks()

    def assigned() -> float | None:
        return metrics.registry.get_sample_value(
            "riskstream_assigned_partitions", {"processor": "scorer"}
        )

    assert set(callbacks) == {"on_assign", "on_revoke", "on_lost"}
    callbacks["on_assign"](None, ["p0", "p1", "p2"])
    assert assigned() == 3
    callbacks["on_revoke"](None, ["p0", "p1", "p2"])
    assert assigned() == 0
    callbacks["on_assign"](None, ["p4"])
    callbacks["on_lost"](None, ["p4"])
    assert assigned() == 0


def test_a_batch_of_latencies_lands_in_the_buckets_one_observe_each_would_use() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            rng.exponential(0.02, 5000),
            np.array(LATENCY_BUCKETS),  # on a bound: that bound's bucket
            np.array([0.0, -0.5, 50.0, np.nextafter(0.005, 1.0)]),
        ]
    )
    one_by_one, batched = WorkerMetrics("a"), WorkerMetrics("b")
    for value in values.tolist():
        one_by_one.latency.observe(value)
    batched.observe_latencies(values[:2000])
    batched.observe_latencies(values[2000:])
    batched.observe_latencies(np.array([np.nan]))  # nothing to count

    def samples(m: WorkerMetrics) -> dict[str, float]:
        (family,) = [f for f in m.registry.collect() if f.name.endswith("latency_seconds")]
        return {f"{s.name}{s.labels}": s.value for s in family.samples if "created" not in s.name}

    expected, got = samples(one_by_one), samples(batched)
    assert got.keys() == expected.keys() and len(got) == len(LATENCY_BUCKETS) + 3
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
