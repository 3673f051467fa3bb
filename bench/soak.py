"""Soak: `riskstream run all` under a steady stream (records and their labels) for millions
of records, with each worker's resident memory sampled over time. The rate asked for is
above what one publishing process reaches on a 2-core machine that also runs the broker,
Redis and six workers; the result says the rate reached, and the scorer group's lag says
whether the workers kept up with it.

Long-running workers must keep bounded state; the bar is RSS growth of at most 5% from the
end of warm-up (the first fifth of the records) to the end. The rate is the one asked for;
the backlog samples say whether the workers kept up with it (a backlog that grows means the
rate was above what they sustain).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.bars import CHILDREN
from bench.common import (
    REPO,
    Echo,
    deployment,
    end_offsets,
    peak_rss_mb,
    rss_mb,
    worker_env,
)
from riskstream.core.settings import Settings
from riskstream.core.topics import PATIENT_RECORDS, RETRAIN_REQUESTS
from riskstream.producers.publish import publish_simulated
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.stream_processors.scorer import GROUP as SCORER
from riskstream.stream_processors.trainer import GROUP as TRAINER

WORKERS = ("scorer", "joiner", "monitor", "performance", "trigger", "trainer")
WARM_UP = 0.2  # of the records: caches, windows and Faust tables fill first
SPAN = 6  # samples (a minute at the full run's 10 s) on either side of the comparison
BAR = 0.05
SEARCH_WAIT_S = 900.0  # a background search on 50,000 examples: 137 s alone on 2 cores


def children_by_worker(pid: int) -> dict[str, int]:
    """`run all`'s worker processes, by the worker each runs. A child caught between fork
    and exec still shows the parent's `run all` command line; it is left out until it
    runs its worker."""
    found: dict[str, int] = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # exited since the list was read
        words = [w.decode() for w in argv if w]
        if "run" in words and words.index("run") + 1 < len(words):
            name = words[words.index("run") + 1]
            if name in WORKERS:
                found[name] = int(child)
    return found


def child_processes(pid: int) -> list[int]:
    """A process's children, from every thread (a child is listed under the thread that
    started it): the trainer's registry and training processes."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):  # the thread ended since the glob
            found += [int(child) for child in listing.read_text().split()]
    return found


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _children_busy(pid: int, window_s: float = 5.0) -> bool:
    """Whether any child of ``pid`` used a tenth of a core over ``window_s``: a background
    search after a retrain runs for minutes at a lower priority."""
    before: dict[int, float] = {}
    for child in child_processes(pid):
        with contextlib.suppress(OSError):
            before[child] = _cpu_s(child)
    time.sleep(window_s)
    used = 0.0
    for child, cpu in before.items():
        with contextlib.suppress(OSError):
            used = max(used, _cpu_s(child) - cpu)
    return used > 0.1 * window_s


def child_peaks(pids: dict[str, int]) -> dict[str, float]:
    """VmHWM of each worker's largest child process, for the workers that have any."""
    peaks: dict[str, float] = {}
    for name, pid in pids.items():
        found = []
        for child in child_processes(pid):
            with contextlib.suppress(OSError):
                found.append(peak_rss_mb(child))
        if found:
            peaks[f"{name}{CHILDREN}"] = round(max(found), 1)
    return peaks


def _publish(settings: Settings, records: int, rate: float, sent: list[int]) -> None:
    """``records`` at ``rate`` per second with a label each (1 s mean delay), in chunks so
    the publisher's own memory stays small."""
    model = PimaModel.fit()
    chunk = min(records, 50_000)
    for k in range(0, records, chunk):
        sim = Simulator(model, Scenario(label_delay_s=1.0), seed=k, rate=rate, run=f"soak{k}")
        count = min(chunk, records - k)

        def progress(n: int, done: int = k) -> None:
            sent[0] = done + n

        stream = sim.stream(count, int(time.time() * 1000))
        publish_simulated(settings, stream, labels=True, on_progress=progress)


def measure(
    base: Settings,
    work: Path,
    echo: Echo,
    *,
    records: int,
    rate: float,
    sample_s: float = 10.0,
    search_wait_s: float = SEARCH_WAIT_S,
) -> dict[str, Any]:
    settings = deployment(base, "soak-", work / "soak")
    run_all = subprocess.Popen(
        [sys.executable, "-m", "riskstream.app.cli.main", "run", "all"],
        env=worker_env(settings),
        cwd=REPO,
    )
    samples: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        pids: dict[str, int] = {}
        while len(pids) < len(WORKERS) and time.monotonic() < deadline:
            time.sleep(1)
            pids = children_by_worker(run_all.pid)
        if len(pids) < len(WORKERS):
            raise RuntimeError(f"run all started only {sorted(pids)}")
        time.sleep(10)  # the scorer loads the champion, the Faust workers join their groups
        sent = [0]
        publisher = threading.Thread(target=_publish, args=(settings, records, rate, sent))
        started = time.monotonic()
        publisher.start()
        echo(f"soak: {records:,} records at {rate:,.0f}/s into `run all` ({len(pids)} workers)")
        # until the stream is scored and any retraining is done: the end is sampled at rest
        while publisher.is_alive() or _backlog(settings) > 0 or _training(settings):
            time.sleep(sample_s)
            if run_all.poll() is not None:
                raise RuntimeError(f"run all exited with {run_all.returncode} during the soak")
            backlog = _backlog(settings)
            rss = {name: round(rss_mb(pid), 1) for name, pid in pids.items()}
            sample: dict[str, Any] = {
                "t": round(time.monotonic() - started, 1),
                "sent": sent[0],
                "backlog": backlog,
                "rss_mb": rss,
            }
            samples.append(sample)
            echo(
                f"soak: t+{sample['t']:.0f}s sent {sent[0]:,} backlog {backlog:,} "
                + " ".join(f"{n} {v:.0f}" for n, v in rss.items())
                + " MiB"
            )
            if not publisher.is_alive() and time.monotonic() - started > 4 * records / rate:
                break  # the workers did not catch up; the backlog samples say by how much
        publisher.join()
        seconds = time.monotonic() - started
        published_s = next((s["t"] for s in samples if s["sent"] >= records), seconds)
        # a background search still running has not reached its peak yet
        waited = time.monotonic()
        while time.monotonic() - waited < search_wait_s and _children_busy(pids["trainer"]):
            echo(f"soak: the trainer's search is running ({time.monotonic() - waited:.0f} s)")
        # VmHWM: each worker's peak over its whole life, between samples too (bar: 300 MB),
        # and of the trainer's child processes, which hold MLflow and the estimators
        peaks = {name: round(peak_rss_mb(pid), 1) for name, pid in pids.items()}
        peaks.update(child_peaks(pids))
    finally:
        run_all.send_signal(signal.SIGTERM)
        try:
            run_all.wait(60)
        except subprocess.TimeoutExpired:
            run_all.kill()
    return {
        "records": records,
        "rate": rate,
        # what the publisher reached on this machine (it shares the cores with the workers)
        "achieved_rate": round(records / published_s, 1) if published_s else None,
        "seconds": round(seconds, 1),
        "samples": samples,
        "growth": growth(samples, records),
        "peak_rss_mb": peaks,
    }


def _backlog(settings: Settings) -> int:
    """The scorer group's lag on patient-records: published records whose offsets it has
    not committed yet."""
    return _lag(settings, SCORER, PATIENT_RECORDS.name, markers=True)


def _training(settings: Settings) -> bool:
    """Whether the trainer has retrain requests it has not committed (is training)."""
    return _lag(settings, TRAINER, RETRAIN_REQUESTS.name, markers=False) > 0


def _lag(settings: Settings, group: str, name: str, *, markers: bool) -> int:
    """A worker group's lag on a topic of the catalog, read as the group's committed offsets
    (this never joins the group); ``markers``: the topic is written by transactions."""
    topic = settings.topic(name)
    ends = end_offsets(settings, topic)
    peek = Consumer(settings.kafka_config({"group.id": f"{settings.topic_prefix}{group}"}))
    try:
        done = peek.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        peek.close()
    # the last offset of a partition written by transactions is a commit marker, never
    # consumed: a partition the group has caught up on ends one past its committed offset
    marker = 1 if markers else 0
    return sum(max(0, ends[tp.partition] - max(tp.offset, 0) - marker) for tp in done)


def growth(samples: list[dict[str, Any]], records: int) -> dict[str, dict[str, float]]:
    """Per worker: resident memory just after warm-up and at the end, each the median of
    ``SPAN`` consecutive samples (a single sample moves by tens of MiB as batches come and go),
    the peak after warm-up, and the growth from the one median to the other (bar: <= 5%)."""
    warm = [s for s in samples if s["sent"] >= WARM_UP * records]
    if len(warm) < 2:
        return {}
    span = max(1, min(SPAN, len(warm) // 2))
    out = {}
    for name in warm[0]["rss_mb"]:
        first = statistics.median(s["rss_mb"][name] for s in warm[:span])
        last = statistics.median(s["rss_mb"][name] for s in warm[-span:])
        out[name] = {
            "after_warm_up_mb": first,
            "end_mb": last,
            "peak_mb": max(s["rss_mb"][name] for s in warm),
            "growth": round((last - first) / first, 4) if first else float("nan"),
        }
    return out
