"""Operations endpoints of a worker: ``/health``, ``/ready`` and Prometheus ``/metrics``.

Each worker owns a ``WorkerMetrics`` (its own registry, so several workers can share a process,
as the demo's do) and updates it from its loop; ``OpsServer`` serves it over HTTP from a daemon
thread. Consumer lag comes from librdkafka's statistics callback, so it costs no broker calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from riskstream.io.kafka.group_watch import GroupWatch
from riskstream.schemas.events import DriftAlert

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# The workers of `riskstream run all`, in order: each serves its ops endpoints on
# RISKSTREAM_OPS_PORT + its place here (the compose file and Prometheus rely on it).
WORKERS = (
    "scorer",
    "joiner",
    "monitor",
    "performance",
    "trigger",
    "trainer",
    "learner",
    "notifier",
)


def ops_port_of(first_port: int, worker: str) -> int:
    """The worker's ops port; 0 when ops endpoints are off."""
    return first_port + WORKERS.index(worker) if first_port else 0


def partition_lag(p: dict[str, Any]) -> int | None:
    """Records between a partition's consumer position and its end, or None if unknown."""
    end = p.get("ls_offset", -1)
    if end is None or end < 0:
        end = p.get("hi_offset", -1)
    position = p.get("app_offset", -1)
    if end is not None and end >= 0 and position is not None and position >= 0:
        return max(0, int(end) - int(position))
    lag = p.get("consumer_lag", -1)
    return int(lag) if lag is not None and lag >= 0 else None


class WorkerMetrics:
    def __init__(self, processor: str, stall_s: float = 60.0) -> None:
        self.processor = processor
        self.stall_s = stall_s  # a loop silent this long is not healthy
        self.group = GroupWatch()  # whether the group consumer's membership is stuck
        self.registry = r = CollectorRegistry()
        self.records_in = Counter(
            "riskstream_records_in", "Records consumed.", ["processor"], registry=r
        ).labels(processor)
        self._records_out = Counter(
            "riskstream_records_out",
            "Events produced, by topic.",
            ["processor", "topic"],
            registry=r,
        )
        self._dead_letters = Counter(
            "riskstream_dead_letters",
            "Inputs sent to dead-letter, by reason.",
            ["processor", "reason"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "riskstream_consumer_lag",
            "Records behind the partition's end.",
            ["processor", "topic", "partition"],
            registry=r,
        )
        self.latency = Histogram(
            "riskstream_scoring_latency_seconds",
            "From a record's produce timestamp to its prediction.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_version = Gauge(
            "riskstream_model_version",
            "Model version in use (the value is the version).",
            ["processor"],
            registry=r,
        ).labels(processor)
        self.model_load_failures = Counter(
            "riskstream_model_load_failures", "Model versions that failed to load.", registry=r
        )
        self._add_monitoring_metrics(r, processor)
        self.ready = False
        self.last_beat = time.monotonic()

    def observe_latencies(self, seconds: np.ndarray) -> None:
        """A batch's latencies into :attr:`latency`, as one ``observe`` each would put them (a
        value on a bound counts in that bound's bucket), in one numpy pass: ``observe`` per
        prediction cost about 1.2 us of the scorer's 20 per record under backlog."""
        values = np.asarray(seconds, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not values.size:
            return
        histogram = self.latency
        bounds = np.asarray(histogram._upper_bounds)
        counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
        histogram._sum.inc(float(values.sum()))
        for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
            if count:
                bucket.inc(count)

    def _add_monitoring_metrics(self, r: CollectorRegistry, processor: str) -> None:
        """The monitors' statistics, estimates, alerts and windows, and the group's share."""
        self.drift = Gauge(
            "riskstream_drift_statistic",
            "Latest value of a drift, quality or performance "
            "statistic, from the last closed window, of the whole stream (segment all) or "
            "one source segment.",
            ["subject", "statistic", "segment"],
            registry=r,
        )
        self.performance_estimate = Gauge(
            "riskstream_performance_estimate",
            "A version's performance estimated from calibrated scores (CBPE), last window.",
            ["version", "metric"],
            registry=r,
        )
        self.performance_estimate_bound = Gauge(
            "riskstream_performance_estimate_bound",
            "A bound (low, high) of the 95% interval of a version's last estimate: where the "
            "realized metric falls by the labels' chance alone if the calibration holds.",
            ["version", "metric", "bound"],
            registry=r,
        )
        self.estimate_error = Gauge(
            "riskstream_performance_estimate_error",
            "Estimated minus realized performance on the last labeled window.",
            ["version", "metric"],
            registry=r,
        )
        self._alerts = Counter(
            "riskstream_alerts",
            "Alerts raised.",
            ["kind", "severity", "status", "segment"],
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "riskstream_assigned_partitions",
            "Partitions this worker owns in its consumer group.",
            ["processor"],
            registry=r,
        ).labels(processor)
        self.windows = Counter(
            "riskstream_windows_closed", "Windows closed, by outcome.", ["outcome"], registry=r
        )
        self.skipped = Counter(
            "riskstream_records_skipped",
            "Consumed records that got no verdict, by reason (an undecodable event, a model "
            "version that does not load, a record for a window already closed).",
            ["reason"],
            registry=r,
        )

    def beat(self) -> None:
        """The worker's loop is alive."""
        self.last_beat = time.monotonic()

    @property
    def healthy(self) -> bool:
        return time.monotonic() - self.last_beat < self.stall_s

    def records_out(self, topic: str, count: int = 1) -> None:
        self._records_out.labels(self.processor, topic).inc(count)

    def dead_letter(self, reason: str, count: int = 1) -> None:
        self._dead_letters.labels(self.processor, reason).inc(count)

    def alert(self, alert: DriftAlert) -> None:
        self._alerts.labels(alert.kind, alert.severity, alert.status, alert.segment or "all").inc()

    def on_stats(self, raw: str) -> None:
        """librdkafka's ``stats_cb``: per-partition consumer lag, from the consumer's position
        (``app_offset``) to the partition's end (the last stable offset under read_committed).
        librdkafka's own ``consumer_lag`` counts from the consumer's commits, which a
        transactional worker never makes itself, so it stays -1 there."""
        try:
            stats = json.loads(raw)
        except ValueError:
            return
        self.group.observe(stats)
        for topic, body in stats.get("topics", {}).items():
            for partition, p in body.get("partitions", {}).items():
                lag = partition_lag(p)
                if partition != "-1" and lag is not None:
                    self.consumer_lag.labels(self.processor, topic, partition).set(lag)

    def rebalance_callbacks(self) -> dict[str, Any]:
        """``subscribe`` callbacks that keep ``assigned_partitions`` true, so a dashboard sees
        how a group of workers shares its partitions (eager assignment: each assignment is
        whole; a revoke or a loss leaves none until the next one)."""

        def assigned(_consumer: Any, partitions: list[Any]) -> None:
            self.assigned_partitions.set(len(partitions))

        def revoked(_consumer: Any, _partitions: list[Any]) -> None:
            self.assigned_partitions.set(0)

        return {"on_assign": assigned, "on_revoke": revoked, "on_lost": revoked}

    def consumer_config(self) -> dict[str, Any]:
        """Consumer settings that feed ``on_stats``."""
        return {"statistics.interval.ms": 5000, "stats_cb": self.on_stats}


class _Handler(BaseHTTPRequestHandler):
    metrics: WorkerMetrics

    def do_GET(self) -> None:
        m = self.metrics
        if self.path == "/metrics":
            self._send(200, generate_latest(m.registry), CONTENT_TYPE_LATEST)
        elif self.path == "/health":
            ok = m.healthy
            self._send(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
        elif self.path == "/ready":
            self._send(200 if m.ready else 503, b"ready\n" if m.ready else b"not ready\n")
        else:
            self._send(404, b"try /health, /ready or /metrics\n")

    def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ops: " + format, *args)


class OpsServer:
    """Serves one worker's endpoints on ``host:port`` from ``start`` until ``close``."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int) -> None:
        self.metrics, self.host, self.port = metrics, host, port
        self.address = ""

    def start(self) -> OpsServer:
        """Bind the port (OSError if it is taken) and serve on a thread of its own."""
        handler = type("Handler", (_Handler,), {"metrics": self.metrics})
        self.server = ThreadingHTTPServer((self.host, self.port), handler)
        self.address = f"http://{self.host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def serve_ops(metrics: WorkerMetrics, host: str, port: int) -> OpsServer | None:
    """Start the endpoints; a port that is taken is logged, not fatal: the worker's data path
    matters more than its metrics."""
    try:
        server = OpsServer(metrics, host, port).start()
    except OSError as exc:
        log.error(
            "%s: cannot serve /health and /metrics on %s:%d (%s); pass --ops-port to choose "
            "another port",
            metrics.processor,
            host,
            port,
            exc.strerror,
        )
        return None
    log.info("%s: ops endpoints on %s (/health /ready /metrics)", metrics.processor, server.address)
    return server
