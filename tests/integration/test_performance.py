"""The performance monitor against the real broker and Redis: exact window counts, metric
conditions that fire once and resolve once, and ADWIN finding the error-rate change."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.io.kafka.clients import codec_for
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import decoded
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for

pytestmark = pytest.mark.integration
WINDOW_S = 10
PER_WINDOW = 300
T0 = 1_760_000_000_000 - 1_760_000_000_000 % (WINDOW_S * 1000)
# the share of correct predictions in each window: windows 3 and 4 are coin flips
CORRECT = [0.9, 0.9, 0.9, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9]


def _examples(version: str) -> tuple[list[dict[str, object]], Counter[int]]:
    rng = np.random.default_rng(4)
    out, per_window = [], Counter()
    for w, correct in enumerate(CORRECT):
        start = T0 + w * WINDOW_S * 1000
        for i in range(PER_WINDOW):
            label = int(rng.random() < 0.35)
            predicted = label if rng.random() < correct else 1 - label
            risk = float(rng.uniform(0.5, 1.0) if predicted else rng.uniform(0.0, 0.5))
            out.append(
                {
                    **SAMPLES["LabeledExample"],
                    "example_id": str(uuid.uuid4()),
                    "request_id": f"w{w}-{i}",
                    "labeled_at": start + i * WINDOW_S * 1000 // PER_WINDOW,
                    "label": label,
                    "risk": risk,
                    "predicted_label": predicted,
                    "model_version": version,
                }
            )
            per_window[start] += 1
    return out, per_window


def _judged(
    settings: Settings, examples: list[dict[str, object]], windows: int, shadow_windows: int = 0
) -> PerformanceMonitor:
    """Publish ``examples``, run a performance monitor until it has closed ``windows``
    windows, and check it counted every example once."""
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 10}))
    for e in examples:
        producer.produce(
            settings.topic(LABELED_EXAMPLES.name),
            key=str(e["request_id"]).encode(),
            value=codec.encode("LabeledExample", e),
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    monitor = PerformanceMonitor(settings)
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(
        lambda: (
            monitor.stats.windows_closed >= windows
            and monitor.stats.shadow_windows_closed >= shadow_windows
            and monitor.stats.examples >= len(examples)
        ),  # the last, open window's too
        90,
        every=0.3,
    )
    stop.set()
    thread.join(30)
    assert monitor.stats.windows_closed >= windows and monitor.stats.examples == len(examples)
    return monitor


DEPLOYMENT = {
    "stem": "pf",
    "champion": True,
    "topic_partitions": 1,  # one partition: ADWIN sees the examples in time order
    "performance_window_s": WINDOW_S,
    "performance_lateness_s": 0,
}


def test_a_performance_drop_fires_once_resolves_once_and_adwin_sees_it(
    deployment: Settings,
) -> None:
    settings = deployment
    examples, per_window = _examples("1")
    monitor = _judged(settings, examples, windows=9)

    store = WindowStore(settings, kind="perf")
    for start, n in per_window.items():
        assert int(store.counts("1", start)[b"n"]) == n
    w = [T0 + k * WINDOW_S * 1000 for k in range(10)]
    served = monitor.stats.metrics.items()  # the sample also carries a shadow score of v2
    accuracy = {start: m["accuracy"] for (v, start), m in served if v == "1"}
    assert accuracy[w[0]] == pytest.approx(0.9, abs=0.05)
    assert accuracy[w[3]] == pytest.approx(0.5, abs=0.08)

    gated = sorted(
        (a.window_start, a.status, a.statistic)
        for a in monitor.stats.alerts
        if a.kind == "PERFORMANCE" and a.segment is None
    )
    assert gated == sorted(
        [(w[3], "FIRING", m) for m in ("accuracy", "f1", "roc_auc")]
        + [(w[5], "RESOLVED", m) for m in ("accuracy", "f1", "roc_auc")]
    )
    assert all(
        a.severity in ("HIGH", "CRITICAL")
        for a in monitor.stats.alerts
        if a.kind == "PERFORMANCE" and a.status == "FIRING"
    )
    # every example came from one clinic (the sample's): its verdict is the stream's, once
    assert not [a for a in monitor.stats.alerts if a.segment is not None]
    concept = [a for a in monitor.stats.alerts if a.kind == "CONCEPT_DRIFT"]
    assert [a.status for a in concept] == ["FIRING", "RESOLVED"]
    assert w[3] <= concept[0].window_start < w[5]  # found inside the bad stretch
    assert concept[0].value > concept[0].threshold  # the error rate rose
    assert w[5] <= concept[1].window_start


def test_a_performance_drop_in_one_clinic_alerts_that_clinic_only(deployment: Settings) -> None:
    """Five clinics, 1,500 labeled examples a window; in windows 3 and 4 clinic-2's
    predictions are coin flips. The stream's accuracy stays above its floor (about 0.82);
    clinic-2's falls to 0.5 and is named; the other clinics stay quiet."""
    settings = deployment
    rng = np.random.default_rng(9)
    examples = []
    for w in range(8):
        start = T0 + w * WINDOW_S * 1000
        for i in range(1500):
            clinic = i % 5
            correct = 0.5 if clinic == 2 and w in (3, 4) else 0.92
            label = int(rng.random() < 0.35)
            predicted = label if rng.random() < correct else 1 - label
            risk = float(rng.uniform(0.5, 1.0) if predicted else rng.uniform(0.0, 0.5))
            examples.append(
                {
                    **SAMPLES["LabeledExample"],
                    "example_id": str(uuid.uuid4()),
                    "request_id": f"c{w}-{i}",
                    "labeled_at": start + i * WINDOW_S * 1000 // 1500,
                    "label": label,
                    "risk": risk,
                    "predicted_label": predicted,
                    "model_version": "1",
                    "source": f"clinic-{clinic}",
                }
            )
    monitor = _judged(settings, examples, windows=7)
    w3 = T0 + 3 * WINDOW_S * 1000
    assert monitor.stats.metrics[("1", w3)]["accuracy"] == pytest.approx(0.82, abs=0.03)
    clinic = monitor.stats.segment_metrics[("1", w3, "clinic-2")]
    assert clinic["n"] == 300 and clinic["accuracy"] == pytest.approx(0.5, abs=0.08)
    performance = [a for a in monitor.stats.alerts if a.kind == "PERFORMANCE"]
    assert not [a for a in performance if a.segment is None], "the stream stays above its floor"
    named = [a for a in performance if a.segment == "clinic-2" and a.statistic == "accuracy"]
    assert [(a.status, a.window_start) for a in named] == [
        ("FIRING", w3),
        ("RESOLVED", w3 + 2 * WINDOW_S * 1000),
    ]
    assert not [a for a in performance if a.segment not in (None, "clinic-2")]


def test_each_variant_has_its_windows_and_they_are_sklearns(deployment: Settings) -> None:
    """A 0.5 split with both versions scored on every record: version 1 right 90% of the
    time, version 2 60%. Each version's served window and its shadow window hold exactly the
    records it served or shadowed, with sklearn's accuracy and ROC-AUC (binned: within
    0.01); shadow windows are recorded with variant shadow and never alert."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from riskstream.core.topics import PERFORMANCE_WINDOWS

    examples, truth = _split_examples_scored_by_both_versions()
    monitor = _judged(settings := deployment, examples, windows=6, shadow_windows=6)
    assert monitor.stats.shadow_scores == len(examples)
    for w in range(3):
        start = T0 + w * WINDOW_S * 1000
        for key in ("1", "2", "1~shadow", "2~shadow"):
            ys, risks, labels = truth[(key, start)]
            metrics = monitor.stats.metrics[(key, start)]
            assert metrics["n"] == len(ys) == 200
            assert metrics["accuracy"] == pytest.approx(accuracy_score(ys, labels), abs=1e-12)
            assert metrics["roc_auc"] == pytest.approx(roc_auc_score(ys, risks), abs=0.01)
    alerted = {a.model_version for a in monitor.stats.alerts if a.kind == "PERFORMANCE"}
    assert alerted <= {"1", "2"}
    records = list(
        decoded(
            settings, settings.topic(PERFORMANCE_WINDOWS.name), "PerformanceWindow", "beginning"
        )
    )
    shadow = [r for r in records if r["variant"] == "shadow"]
    starts = {(r["model_version"], int(r["window_start"].timestamp() * 1000)) for r in shadow}
    assert starts >= {(v, T0 + w * WINDOW_S * 1000) for v in ("1", "2") for w in range(3)}
    assert all(r["estimated"] == {} and r["sample_size"] == 200 for r in shadow)


VariantTruth = dict[tuple[str, int], tuple[list[int], list[float], list[int]]]


def _split_examples_scored_by_both_versions() -> tuple[list[dict[str, Any]], VariantTruth]:
    """Four windows of 400 examples, served alternately by versions 1 and 2 and scored in
    shadow by the other; with, per (version or ``<version>~shadow``, window start), the
    labels, risks and predicted labels a window must be judged on."""
    rng = np.random.default_rng(11)
    examples: list[dict[str, Any]] = []
    truth: VariantTruth = {}
    for w in range(4):
        start = T0 + w * WINDOW_S * 1000
        for i in range(400):
            label = int(rng.random() < 0.35)
            scores = {}
            for version, correct in (("1", 0.9), ("2", 0.6)):
                predicted = label if rng.random() < correct else 1 - label
                risk = float(rng.uniform(0.5, 1.0) if predicted else rng.uniform(0.0, 0.5))
                scores[version] = (risk, predicted)
            served, shadow = ("1", "2") if i % 2 else ("2", "1")
            for key, version in ((served, served), (f"{shadow}~shadow", shadow)):
                ys, risks, labels = truth.setdefault((key, start), ([], [], []))
                ys.append(label)
                risks.append(scores[version][0])
                labels.append(scores[version][1])
            examples.append(
                {
                    **SAMPLES["LabeledExample"],
                    "example_id": str(uuid.uuid4()),
                    "request_id": f"v{w}-{i}",
                    "labeled_at": start + i * WINDOW_S * 1000 // 400,
                    "label": label,
                    "risk": scores[served][0],
                    "predicted_label": scores[served][1],
                    "model_version": served,
                    "variant": "champion" if served == "1" else "challenger",
                    "shadow_version": shadow,
                    "shadow_risk": scores[shadow][0],
                    "shadow_label": scores[shadow][1],
                }
            )
    return examples, truth
