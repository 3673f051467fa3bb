"""Scorer throughput against the raw-Kafka limit, the naive service and the peers (the same
scoring work as a Faust agent, a Quix Streams application and a Bytewax dataflow); the cost
of running the monitors beside it; peak memory. All paths read the same records from the
same topic in the same run; rates come from the broker timestamps of their outputs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bench import scale_out
from bench.common import (
    REPO,
    Echo,
    deployment,
    end_offsets,
    forget_group,
    median,
    produce_records,
    rate_of,
    read_timestamps,
    run_argv,
    start_group_at_end,
    wait_until_group_owns,
    wait_until_idle,
    workers,
)
from bench.paths import naive_scorer, plain_topic, raw_passthrough
from riskstream.app.demo_runs import remove_redis_namespaces
from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER, PATIENT_RECORDS, PREDICTIONS
from riskstream.models.bundle import BUNDLE_FILE
from riskstream.models.registry import CHAMPION
from riskstream.models.registry_reader import RegistryReader, version_cache
from riskstream.stream_processors.monitor import GROUP as MONITOR_GROUP
from riskstream.stream_processors.performance import GROUP as PERFORMANCE_GROUP
from riskstream.stream_processors.scorer import GROUP as SCORER_GROUP

PAIRED_TIMES = 4  # the monitoring pairs' records, in times the throughput runs'


def scorer_run(
    settings: Settings, count: int, monitors: bool, timeout: float
) -> tuple[float, dict[str, float]]:
    """One scorer process over the whole input; returns its rate and the peak RSS (MiB) of
    each process."""
    predictions = settings.topic(PREDICTIONS.name)
    since = end_offsets(settings, predictions)
    forget_group(settings, settings.topic_prefix + SCORER_GROUP)
    watching = {}
    if monitors:
        # Each run re-scores the same records, so its predictions fall in the windows an
        # earlier run's monitor filled and closed: counted as late, they cost the monitor
        # almost nothing, and only the first monitored run measured the monitors' real
        # work. Each run's monitors start on fresh windows instead.
        remove_redis_namespaces(settings, [settings.topic_prefix])
        start_group_at_end(settings, MONITOR_GROUP, [predictions, settings.topic(DEAD_LETTER.name)])
        watching = {"monitor": run_argv("monitor"), "performance": run_argv("performance")}
    with workers(settings, **watching) as monitoring:
        if monitors:
            # Monitors run all the time in production: they are up and own their partitions
            # before the scorer starts, so what is measured is their cost per record, not
            # their start-up (imports, a Faust group join: about 8 s of a core) landing in
            # the scorer's few seconds of work on this machine's two cores.
            partitions = settings.topic_partitions
            wait_until_group_owns(settings, MONITOR_GROUP, 1, 2 * partitions, timeout=120)
            wait_until_group_owns(settings, PERFORMANCE_GROUP, 1, partitions, timeout=120)
            # and until they are idle: a worker that has just joined its group has work of its
            # own to finish, and that is a start-up cost too
            wait_until_idle([w.proc.pid for w in monitoring.values()], timeout=60)
        with workers(settings, scorer=run_argv("scorer")) as scoring:
            stamps = read_timestamps(settings, predictions, since, count, timeout)
            if monitors:
                time.sleep(3)  # let the monitor catch up before its memory is read
            rss = {name: w.stop() for name, w in (scoring | monitoring).items()}
    if len(stamps) < count:
        raise RuntimeError(f"the scorer produced {len(stamps)} of {count} predictions")
    return rate_of(stamps), rss


def _faust_run(settings: Settings, count: int, timeout: float) -> float:
    out = plain_topic(settings, "faust-out", append_time=True)
    since = end_offsets(settings, out)
    argv = [
        "bench.faust_scorer",
        settings.topic(PATIENT_RECORDS.name),
        out,
        f"bf{uuid.uuid4().hex}",
    ]
    with workers(settings, faust=argv):
        stamps = read_timestamps(settings, out, since, count, timeout)
    return rate_of(stamps) if len(stamps) >= count else 0.0


PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
# name → (module, delivery guarantee as run here)
PEERS = {
    "quix": ("bench.peers.quix_scorer", "exactly once (Kafka transactions)"),
    "bytewax": ("bench.peers.bytewax_scorer", "at least once (no recovery store)"),
}


def champion_bundle(settings: Settings) -> Path:
    """The champion's bundle file in the deployment's model cache (fetched if it is not)."""
    reader = RegistryReader(settings)
    version = reader.alias_version(CHAMPION)
    if version is None:
        raise RuntimeError("the benchmark deployment has no champion")
    reader.load(version)  # fetches it into the cache
    return version_cache(settings, version) / BUNDLE_FILE


def _peer_run(settings: Settings, peer: str, count: int, timeout: float, bundle: Path) -> float:
    """One peer's process over the whole input, in the peers' venv (``make peers``)."""
    if not PEERS_PYTHON.exists():
        raise RuntimeError(f"{PEERS_PYTHON} is missing: run `make peers` (the peers' venv)")
    out = plain_topic(settings, f"{peer}-out", append_time=True)
    since = end_offsets(settings, out)
    argv = [PEERS[peer][0], settings.topic(PATIENT_RECORDS.name), out, f"b{peer}{uuid.uuid4().hex}"]
    with workers(settings, str(PEERS_PYTHON), peer=[*argv, str(bundle)]):
        stamps = read_timestamps(settings, out, since, count, timeout)
    return rate_of(stamps) if len(stamps) >= count else 0.0


def plain_run(settings: Settings, stem: str, count: int, run: Any) -> float:
    out = plain_topic(settings, stem)
    since = end_offsets(settings, out)
    run(settings, out, count)
    return rate_of(read_timestamps(settings, out, since, count, timeout=60))


def measure(
    base: Settings, workdir: Path, echo: Echo, *, records: int, naive_records: int, repeats: int
) -> dict[str, Any]:
    settings = deployment(base, "bt", workdir / "throughput")
    echo(f"throughput: producing {records} records")
    produce_records(settings, records)
    paths = ("raw", "naive", "riskstream", "faust", *PEERS)
    rates: dict[str, list[float]] = {k: [] for k in paths}
    bundle = champion_bundle(settings)
    monitored: list[float] = []
    rss: dict[str, list[float]] = {}
    timeout = 120 + records / 500
    for run in range(1, repeats + 1):
        rates["raw"].append(plain_run(settings, "raw-out", records, raw_passthrough))
        rates["naive"].append(plain_run(settings, "naive-out", naive_records, naive_scorer))
        rate, _ = scorer_run(settings, records, monitors=False, timeout=timeout)
        rates["riskstream"].append(rate)
        rates["faust"].append(_faust_run(settings, records, timeout))
        for peer in PEERS:
            rates[peer].append(_peer_run(settings, peer, records, timeout, bundle))
        echo(
            f"throughput run {run}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
        )
    # The monitors' cost, in pairs taken back to back: the scorer alone, then with the
    # monitors, over PAIRED_TIMES the records. Measured within the runs above (50,000 records,
    # under a second of the scorer's work) the figure was 0.847, 0.898 and 0.777 in three
    # benchmarks of one morning, while the plain runs alone spread by a fifth.
    paired = deployment(base, "bm", workdir / "monitoring")
    count = PAIRED_TIMES * records
    echo(f"monitoring overhead: producing {count} records")
    produce_records(paired, count)
    alone: list[float] = []
    ratios: list[float] = []
    for pair in range(1, repeats + 1):
        rate, _ = scorer_run(paired, count, monitors=False, timeout=timeout * PAIRED_TIMES)
        alone.append(rate)
        rate, peaks = scorer_run(paired, count, monitors=True, timeout=timeout * PAIRED_TIMES)
        monitored.append(rate)
        ratios.append(monitored[-1] / alone[-1] if alone[-1] else 0.0)
        for name, value in peaks.items():
            rss.setdefault(name, []).append(value)
        echo(
            f"monitoring pair {pair}/{repeats}: alone {alone[-1]:,.0f}/s, with monitors "
            f"{monitored[-1]:,.0f}/s ({ratios[-1]:.3f})"
        )
    med = {k: median(v) for k, v in rates.items()}
    scale = scale_out.measure(settings, echo, records=records, repeats=repeats)
    return {
        "scale_out": scale,
        "records": records,
        "naive_records": naive_records,
        "repeats": repeats,
        "runs": rates | {"riskstream_paired": alone, "riskstream_monitored": monitored},
        "median_rps": med
        | {"riskstream_paired": median(alone), "riskstream_monitored": median(monitored)},
        "monitoring": {"records": count, "ratios": ratios},
        "ratio_c_over_a": med["riskstream"] / med["raw"] if med["raw"] else 0.0,
        "ratio_c_over_b": med["riskstream"] / med["naive"] if med["naive"] else 0.0,
        "ratio_faust_over_a": med["faust"] / med["raw"] if med["raw"] else 0.0,
        "peer_guarantees": {"faust": "at least once", **{k: g for k, (_, g) in PEERS.items()}},
        "monitoring_ratio": median(ratios),
        "peak_rss_mb": {name: max(values) for name, values in rss.items()},
    }
