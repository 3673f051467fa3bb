"""What protecting patient data costs (#30).

- Per record, in this process: the scorer's pseudonym (HMAC-SHA256 of the id), and the
  joiner's sealing of an example's features (AES-GCM under the patient's data key; a new
  patient also costs a key made and wrapped), and the trainer's opening of one.
- The joiner end to end: the same records scored, then their labels joined, with the
  features sealed and, in the same run, with the sealing step replaced by a pass-through;
  and raw confluent-kafka passthrough over the same records for the ratio every throughput
  figure carries. The scorer does no encryption: its throughput (with the pseudonym) is the
  throughput benchmark's.
"""

from __future__ import annotations

import threading
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

from bench.common import Echo, deployment, end_offsets, median, rate_of, read_timestamps
from bench.paths import raw_passthrough
from bench.throughput import plain_run, scorer_run
from riskstream.core.patient_crypto import new_data_key, open_features, seal_features
from riskstream.core.pseudonyms import patient_ref
from riskstream.core.settings import Settings
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.producers.publish import Publisher, PublishSummary
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.stream_processors.joiner import Joiner

FEATURES = {"pregnancies": 2.0, "glucose": 148.0, "blood_pressure": 72.0, "bmi": 33.6}
FEATURES |= {"skin_thickness": 35.0, "pedigree": 0.627, "age": 50.0}


def per_record_us(repeat: int = 20_000) -> dict[str, float]:
    """Microseconds per call, best of three timings of ``repeat`` calls."""
    key, ref = new_data_key(), patient_ref(b"bench", "patient-000000042")
    sealed = seal_features(key, ref, FEATURES)

    def best(statement: Any, number: int = repeat) -> float:
        return min(timeit.repeat(statement, number=number, repeat=3)) / number * 1e6

    keyring = PatientKeyring(ClusterSettings.model_validate({"key_encryption_key": "bench"}))
    fresh = iter(range(10**9))

    def new_patient() -> None:
        patient = f"p{next(fresh)}"
        _, data_key = keyring.key_for(patient)
        seal_features(data_key, patient, FEATURES)

    return {
        "pseudonym": best(lambda: patient_ref(b"bench", "patient-000000042")),
        "seal_known_patient": best(lambda: seal_features(key, ref, FEATURES)),
        "seal_new_patient": best(new_patient, repeat // 4),
        "open": best(lambda: open_features(key, ref, sealed)),
    }


def measure(base: Any, workdir: Path, echo: Echo, *, records: int, repeats: int) -> dict[str, Any]:
    micro = per_record_us()
    echo("patient data, per record: " + ", ".join(f"{k} {v:.1f} us" for k, v in micro.items()))
    rates: dict[str, list[float]] = {"raw": [], "sealed": [], "unsealed": []}
    for run in range(1, repeats + 1):
        for variant in ("sealed", "unsealed"):
            settings = deployment(base, "pk", workdir / f"patient-data-{variant}-{run}")
            rate, raw = _joiner_run(settings, records, sealed=variant == "sealed")
            rates[variant].append(rate)
            rates["raw"].append(raw)
        echo(
            f"patient data run {run}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items())
        )
    med = {k: median(v) for k, v in rates.items()}
    return {
        "records": records,
        "repeats": repeats,
        "per_record_us": micro,
        "runs": rates,
        "median_rps": med,
        "ratio_over_raw": {k: med[k] / med["raw"] for k in ("sealed", "unsealed")}
        if med["raw"]
        else {},
        "sealed_over_unsealed": med["sealed"] / med["unsealed"] if med["unsealed"] else 0.0,
    }


def _joiner_run(settings: Settings, count: int, sealed: bool) -> tuple[float, float]:
    """(labeled examples/s of one in-process joiner, raw passthrough records/s) over
    ``count`` records: scored first, their labels sent once the joiner holds every
    prediction, so the rate is the joining alone."""
    sim = Simulator(PimaModel.fit(), Scenario(), seed=1, run=uuid.uuid4().hex[:6])
    items = list(sim.stream(count, int(time.time() * 1000)))
    publisher = Publisher(settings)
    for item in items:
        publisher.send_record(item.record)
    publisher.finish(PublishSummary(sent=count), timeout=60)
    raw = plain_run(settings, "raw-out", count, raw_passthrough)
    scorer_run(settings, count, monitors=False, timeout=120 + count / 500)
    joiner = Joiner(settings)
    if not sealed:
        joiner.keyring.seal = lambda example: example  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=joiner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while joiner.stats.predictions_cached < count and time.monotonic() < deadline:
            time.sleep(0.2)
        topic = settings.topic(LABELED_EXAMPLES.name)
        since = end_offsets(settings, topic)
        for item in items:
            publisher.send_truth(item.record, item.outcome)
        publisher.finish(PublishSummary(sent=count), timeout=60)
        stamps = read_timestamps(settings, topic, since, count, timeout=120 + count / 200)
    finally:
        stop.set()
        thread.join(30)
    if len(stamps) < count:
        raise RuntimeError(f"the joiner wrote {len(stamps)} of {count} labeled examples")
    return rate_of(stamps), raw


def table(r: dict[str, Any]) -> list[str]:
    us = r["per_record_us"]
    return [
        f"Per record (best of three timings, this process): the scorer's pseudonym "
        f"{us['pseudonym']:.1f} µs; the joiner's sealing {us['seal_known_patient']:.1f} µs "
        f"({us['seal_new_patient']:.1f} µs for a patient it meets first: a key made and "
        f"wrapped); the trainer's opening {us['open']:.1f} µs. The joiner end to end: "
        f"{r['records']:,} records scored, then their labels joined by one joiner, "
        f"{r['repeats']} runs (median), with the features sealed and with sealing replaced "
        "by a pass-through, in the same run. The scorer encrypts nothing; its throughput, "
        "pseudonym included, is the throughput table's. `bench/patient_data.py`.",
        "",
        "| joiner | labeled examples/s | ÷ raw passthrough | ÷ unsealed |",
        "|---|---|---|---|",
        f"| raw passthrough (records) | {r['median_rps']['raw']:,.0f} | 1.00 | |",
        f"| features sealed | {r['median_rps']['sealed']:,.0f} | "
        f"{r['ratio_over_raw'].get('sealed', 0):.3f} | {r['sealed_over_unsealed']:.2f} |",
        f"| sealing off | {r['median_rps']['unsealed']:,.0f} | "
        f"{r['ratio_over_raw'].get('unsealed', 0):.3f} | 1.00 |",
    ]
