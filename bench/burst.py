"""A burst followed by silence, live: 6,000 glucose-shifted records (+0.75 sd) at 2,000/s
through the real scorer and drift monitor, then nothing. How long until a HIGH+ glucose
verdict, with idle partitions (``RISKSTREAM_MONITOR_IDLE_S``) and without (0, as before);
river's detectors, fed the same records one by one, for comparison (their delay in records
at 2,000/s), and the detector that always fires (at the first record)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from river import drift

from bench.common import Echo, deployment
from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.producers import pima_rows
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.schemas.patient_record import RAW_FEATURES
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.scorer import Scorer

RATE = 2000.0
WINDOW_S, LATENESS_S, IDLE_S = 10, 2, 3


def _burst(n: int) -> pd.DataFrame:
    frame, _ = pima_rows.complete_rows()
    rows, _ = pima_rows.resample(n, np.random.default_rng(11))
    shifted = rows["glucose"] + 0.75 * float(frame["glucose"].std())
    rows["glucose"] = shifted.round().clip(upper=500)
    return rows


def live_delay(settings: Settings, rows: pd.DataFrame, give_up_s: float) -> float | None:
    """Seconds from the burst's first record to a HIGH+ glucose alert (None: none)."""
    scorer, monitor = Scorer(settings, instance="burst"), Monitor(settings)
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in (scorer, monitor)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 90
        owned = "riskstream_assigned_partitions"
        while time.monotonic() < deadline and not all(
            w.metrics.registry.get_sample_value(owned, {"processor": w.metrics.processor})
            for w in (scorer, monitor)
        ):
            time.sleep(0.2)
        began = time.time()
        records = pima_rows.as_records(rows, int(began * 1000), RATE, run=uuid.uuid4().hex[:8])
        publisher = Publisher(settings)
        for i, record in enumerate(records):
            publisher.send_record(record)
            if i % 100 == 99 and (ahead := (i + 1) / RATE - (time.time() - began)) > 0:
                time.sleep(ahead)
        publisher.finish(PublishSummary())
        while time.time() - began < give_up_s:
            for alert in monitor.stats.alerts:
                if alert.feature == "glucose" and alert.severity in ("HIGH", "CRITICAL"):
                    return round(time.time() - began, 1)
            time.sleep(0.2)
        return None
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def river_delays(rows: pd.DataFrame) -> dict[str, float | None]:
    raw, _ = data.load(data.TRAIN_FILE)
    scale = raw[list(RAW_FEATURES)].agg(["mean", "std"])
    out: dict[str, float | None] = {}
    for name, make, features in (
        ("river ADWIN per feature", drift.ADWIN, list(RAW_FEATURES)),
        ("river PageHinkley per feature", drift.PageHinkley, list(RAW_FEATURES)),
        ("river KSWIN on glucose", lambda: drift.KSWIN(seed=1), ["glucose"]),
    ):
        first: int | None = None
        for feature in features:
            detector = make()
            values = (rows[feature] - scale.loc["mean", feature]) / scale.loc["std", feature]
            for i, value in enumerate(values.fillna(0.0).tolist()):
                detector.update(value)
                if detector.drift_detected:
                    first = i if first is None else min(first, i)
                    break
        out[name] = None if first is None else round((first + 1) / RATE, 3)
    out["always fires"] = round(1 / RATE, 4)
    return out


def measure(
    base: Settings, work: Path, echo: Echo, *, records: int, without_idle: bool
) -> dict[str, Any]:
    """``without_idle`` also runs the monitor as it was before idle partitions (it waits the
    bound plus 45 s for a verdict that does not come)."""
    rows = _burst(records)
    bound = WINDOW_S + LATENESS_S + IDLE_S
    result: dict[str, Any] = {
        "records": records,
        "rate": RATE,
        "window_s": WINDOW_S,
        "lateness_s": LATENESS_S,
        "idle_s": IDLE_S,
        "bound_s": bound,
        "seconds": {},
    }
    variants = [("riskstream, idle partitions", IDLE_S)]
    if without_idle:
        variants.append(("riskstream, no idleness (before)", 0))
    for label, idle in variants:
        settings = deployment(
            base,
            "burst",
            work / f"burst-{idle}",
            monitor_window_s=WINDOW_S,
            monitor_lateness_s=LATENESS_S,
            monitor_idle_s=idle,
        )
        delay = live_delay(settings, rows, give_up_s=bound + 45)
        result["seconds"][label] = delay
        echo(f"burst then silence: {label}: {delay} s (bound {bound} s)")
    for name, delay in river_delays(rows).items():
        result["seconds"][name] = delay
        echo(f"burst then silence: {name}: {delay} s")
    return result
