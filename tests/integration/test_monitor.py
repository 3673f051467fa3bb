"""The drift monitor against the real broker and Redis: exact window counts, drift that
enters and resolves once, replay safety, and two workers sharing the partitions."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER, PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.dead_letter import consumed
from riskstream.models import data
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.events import AlertKind, Consumed
from riskstream.schemas.patient_record import IMPUTABLE
from riskstream.stream_processors.monitor import GROUP, Monitor
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import read_messages
from tests.integration.servers import start_workers, wait_until_owning
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import wait_for

WINDOW_S = 10
T0 = 1_760_000_000_000 - 1_760_000_000_000 % (WINDOW_S * 1000)


# each test its own topics, Redis keys and registered model (the prefix names all three)
DEPLOYMENT = {
    "stem": "mo",
    "champion": True,
    "monitor_window_s": WINDOW_S,
    "monitor_lateness_s": 0,
}


def _predictions(
    settings: Settings,
    windows: list[float],
    per_window: int | list[int],
    seed: int = 0,
    missing: dict[int, float] | None = None,
) -> tuple[list[dict[str, Any]], Counter[int]]:
    """``per_window`` predictions in each window (one count, or one per window); glucose
    shifted by ``shift`` sd; in window w, a ``missing[w]`` share of records lacks bmi."""
    sizes = per_window if isinstance(per_window, list) else [per_window] * len(windows)
    registry = Registry(settings)
    version = registry.alias_version(CHAMPION)
    assert version is not None
    model = registry.load(version)
    raw, _ = data.load(data.TRAIN_FILE)
    rng = np.random.default_rng(seed)
    sd = float(raw["glucose"].std())
    out, expected = [], Counter()
    for w, (shift, per_window) in enumerate(zip(windows, sizes, strict=True)):
        rows = raw.iloc[rng.integers(0, len(raw), per_window)].reset_index(drop=True)
        lacking = int((missing or {}).get(w, 0.0) * per_window)
        rows["glucose"] = rows["glucose"] + shift * sd
        out += _window_predictions(model, version, rows, w, lacking)
        expected[T0 + w * WINDOW_S * 1000] += per_window
    return out, expected


def _window_predictions(
    model: Any, version: str, rows: Any, w: int, lacking: int = 0
) -> list[dict[str, Any]]:
    """The champion's predictions of ``rows`` (raw features), spread over window ``w``; the
    first ``lacking`` of them lack bmi."""
    frame = model.pipeline.frame(rows)
    risk = model.risk(frame.to_numpy())
    out = []
    for i in range(len(rows)):
        event = T0 + w * WINDOW_S * 1000 + int(i * WINDOW_S * 1000 / len(rows))
        out.append(
            {
                **SAMPLES["Prediction"],
                "prediction_id": str(uuid.uuid4()),
                "request_id": f"w{w}-{i}",
                "patient_ref": f"p{i % 97}",
                "event_time": event,
                "model_version": version,
                "risk": float(risk[i]),
                "label": int(risk[i] >= model.threshold),
                "threshold": model.threshold,
                "features": frame.iloc[i].to_dict(),
                # what the scorer writes: the features it imputed are named missing
                "missing": sorted(
                    {n for n in IMPUTABLE if np.isnan(rows.at[i, n])}
                    | ({"bmi"} if i < lacking else set())
                ),
            }
        )
    return out


def _produce(
    settings: Settings, predictions: list[dict[str, Any]], round_robin: bool = False
) -> None:
    """``round_robin``: the i-th prediction to partition i mod the partition count, so every
    partition's latest event time is within that many records of the last one's (keyed,
    one partition can lag the others by seconds, and hold the watermark there)."""
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"linger.ms": 10}))
    for i, p in enumerate(predictions):
        where = {"partition": i % settings.topic_partitions} if round_robin else {}
        producer.produce(
            settings.topic(PREDICTIONS.name),
            key=p["patient_ref"].encode(),
            value=codec.encode("Prediction", p),
            **where,
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def _dead_letters(settings: Settings, start: int, fields_of: Any, count: int = 60) -> None:
    """``count`` scorer dead letters, one every 100 ms of event time from ``start``;
    ``fields_of(i)`` overrides the sample's fields of the i-th."""
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config())
    for i in range(count):
        letter = {
            **SAMPLES["DeadLetter"],
            "dead_letter_id": str(uuid.uuid4()),
            "event_time": start + i * 100,
            **fields_of(i),
        }
        producer.produce(settings.topic(DEAD_LETTER.name), value=codec.encode("DeadLetter", letter))
    assert producer.flush(30) == 0


def _run(monitors: list[Monitor], until: Any, timeout: float = 90, before: Any = None) -> None:
    """Run the monitors until ``until()``; ``before()`` runs once every one owns partitions."""
    stop = threading.Event()
    workers = {f"monitor-{i}": m for i, m in enumerate(monitors)}
    threads = start_workers(workers, stop)
    if before is not None:
        wait_until_owning(workers, timeout=60)  # the group shares the partitions
        before()
    wait_for(until, timeout, every=0.3)
    stop.set()
    for t in threads.values():
        t.join(30)
    assert until(), "the monitors did not get there in time"


def test_drift_enters_once_and_resolves_once_with_exact_window_counts(
    deployment: Settings,
) -> None:
    settings = deployment
    # 3 clean windows, 3 with glucose +1sd, 3 clean, and one more to push the watermark.
    shifts = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    predictions, expected = _predictions(deployment, shifts, per_window=400)
    _produce(settings, predictions)
    monitor = Monitor(settings)
    _run(
        [monitor],
        lambda: monitor.stats.windows_closed >= 9 and monitor.stats.records == len(predictions),
    )
    store = WindowStore(settings)
    version = predictions[0]["model_version"]
    for start, n in expected.items():
        counts = store.counts(version, start)
        assert int(counts.get(b"n", 0)) == n, f"window {start}"
    glucose = [a for a in monitor.stats.alerts if a.feature == "glucose"]
    assert [a.status for a in glucose] == ["FIRING", "RESOLVED"], [a.message for a in glucose]
    # fired in the first shifted window: by the sequential test on one of its sub-windows,
    # or by the window's verdict at its start; resolved by the first clean window's verdict
    shifted = T0 + 3 * WINDOW_S * 1000
    assert shifted <= glucose[0].window_start < shifted + WINDOW_S * 1000
    assert glucose[1].window_start == T0 + 6 * WINDOW_S * 1000
    assert glucose[0].severity in ("MEDIUM", "HIGH", "CRITICAL")
    clean_windows = [T0 + w * WINDOW_S * 1000 for w in (0, 1, 2)]
    for start in clean_windows:
        assert not any(v.drifting for v in monitor.stats.verdicts[start])
    for alert in monitor.stats.alerts:  # on the topic too, decodable
        assert alert.kind in ("DATA_DRIFT", "SCORE_DRIFT")


def test_replayed_batches_are_not_counted_twice(deployment: Settings) -> None:
    """Nor the A/B split's challenger-served predictions (every third here), which are
    counted for the window's volume alone, on an offset track of their own."""
    settings = deployment
    predictions, expected = _predictions(deployment, [0, 0], per_window=150, seed=5)
    challenger: Counter[int] = Counter()
    for i, p in enumerate(predictions):
        if i % 3 == 0:
            p["variant"] = "challenger"
            start = p["event_time"] - (p["event_time"] - T0) % (WINDOW_S * 1000)
            challenger[start] += 1
            expected[start] -= 1
    _produce(settings, predictions)
    read = read_messages(settings, settings.topic(PREDICTIONS.name), 300)
    messages: list[Consumed] = [consumed(m) for m in read]
    monitor = Monitor(settings)
    version = predictions[0]["model_version"]
    monitor._count(messages[:200], version)  # a worker that crashes before committing
    monitor._count(messages[50:], version)  # its successor re-reads from the old offset
    monitor._count(messages, version)  # and a rebalance replays everything once more
    store = WindowStore(settings)
    for start, n in expected.items():
        counts = store.counts(version, start)
        assert int(counts[b"n"]) == n and int(counts[b"v:challenger"]) == challenger[start]
    assert monitor.stats.records == 200 and monitor.stats.challenger_served == 100


def test_offsets_are_committed_past_the_transaction_markers(deployment: Settings) -> None:
    """The scorer writes predictions in transactions, and each commit marker takes an offset
    that no consumer is handed. Faust alone stopped committing at the first one, so a
    restarted monitor re-read everything since; the monitor commits past them."""
    settings = deployment
    predictions, _ = _predictions(deployment, [0, 0], per_window=300, seed=3)
    codec = codec_for(settings)
    producer = Producer(settings.kafka_config({"transactional.id": f"t-{uuid.uuid4().hex}"}))
    producer.init_transactions(30)
    for first in range(0, len(predictions), 50):  # 12 transactions, markers on every partition
        producer.begin_transaction()
        for p in predictions[first : first + 50]:
            producer.produce(
                settings.topic(PREDICTIONS.name),
                key=p["patient_ref"].encode(),
                value=codec.encode("Prediction", p),
            )
        producer.commit_transaction(30)
    monitor = Monitor(settings)
    _run([monitor], lambda: monitor.stats.records == len(predictions))
    topic = settings.topic(PREDICTIONS.name)
    group = Consumer(settings.kafka_config({"group.id": f"{settings.topic_prefix}{GROUP}"}))
    committed = group.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    ends = [group.get_watermark_offsets(tp, timeout=10)[1] for tp in committed]
    group.close()
    # the last offset of each partition is the last transaction's marker
    assert [tp.offset for tp in committed] == [end - 1 for end in ends], (committed, ends)


def test_two_monitors_in_one_group_count_every_record_once(deployment: Settings) -> None:
    settings = deployment
    predictions, expected = _predictions(deployment, [0, 0, 0, 0], per_window=300, seed=9)
    a, b = Monitor(settings), Monitor(settings)
    _run(
        [a, b],
        lambda: a.stats.records + b.stats.records >= len(predictions),
        before=lambda: _produce(settings, predictions),
    )
    assert a.stats.records > 0 and b.stats.records > 0  # both owned partitions
    store = WindowStore(settings)
    version = predictions[0]["model_version"]
    assert {s: int(store.counts(version, s)[b"n"]) for s in expected} == dict(expected)


def test_quality_and_volume_conditions_fire_and_resolve_once(deployment: Settings) -> None:
    """Dead letters in window 4, bmi missing from 30% of window 5, a third of the volume in
    window 6: each condition fires once in its window and resolves in the next."""
    settings = deployment
    sizes = [400, 400, 400, 400, 400, 400, 140, 400, 400, 400]
    predictions, _ = _predictions(deployment, [0] * 10, sizes, seed=11, missing={5: 0.3})
    w4 = T0 + 4 * WINDOW_S * 1000
    _dead_letters(
        settings, w4, lambda i: {"reason": "out_of_range:glucose" if i % 3 else "wrong_magic_byte"}
    )
    _produce(settings, predictions)
    monitor = Monitor(settings)
    _run(
        [monitor],
        lambda: monitor.stats.windows_closed >= 9 and monitor.stats.dead_letters == 60,
    )
    fired = sorted((a.window_start, a.status, a.statistic, a.kind) for a in monitor.stats.alerts)
    w = [T0 + k * WINDOW_S * 1000 for k in range(10)]
    assert fired == sorted(
        [
            (w[4], "FIRING", "dead_letter_rate", "DATA_QUALITY"),
            (w[4], "FIRING", "out_of_range_rate", "DATA_QUALITY"),
            (w[5], "RESOLVED", "dead_letter_rate", "DATA_QUALITY"),
            (w[5], "RESOLVED", "out_of_range_rate", "DATA_QUALITY"),
            (w[5], "FIRING", "missing_rate", "DATA_QUALITY"),
            (w[6], "RESOLVED", "missing_rate", "DATA_QUALITY"),
            (w[6], "FIRING", "volume_ratio", "VOLUME"),
            (w[7], "RESOLVED", "volume_ratio", "VOLUME"),
        ]
    ), fired
    by_statistic = {(a.statistic, a.status): a for a in monitor.stats.alerts}
    assert by_statistic[("dead_letter_rate", "FIRING")].value == pytest.approx(60 / 460)
    assert by_statistic[("out_of_range_rate", "FIRING")].value == pytest.approx(40 / 460)
    assert by_statistic[("missing_rate", "FIRING")].feature == "bmi"
    # 30% left out on purpose, plus the training data's own 1% of missing bmi
    assert by_statistic[("missing_rate", "FIRING")].value == pytest.approx(0.3, abs=0.02)
    assert by_statistic[("volume_ratio", "FIRING")].value == pytest.approx(140 / 400)


def test_a_clinics_rejected_inputs_count_in_its_segment(deployment: Settings) -> None:
    """Two clinics; in window 4, 60 inputs of clinic-b were dead-lettered out of range. Their
    bytes still decode, so they count in clinic-b's segment: clinic-b's dead-letter rate
    fires (60 / 260), clinic-a's does not."""
    settings = deployment
    predictions, _ = _predictions(deployment, [0] * 8, 400, seed=13)
    for i, p in enumerate(predictions):
        p["source"] = "clinic-a" if i % 2 else "clinic-b"
    w4 = T0 + 4 * WINDOW_S * 1000
    rejected = {**SAMPLES["PatientRecord"], "source": "clinic-b", "glucose": 900.0}
    original = codec_for(settings).encode("PatientRecord", rejected)
    _dead_letters(
        settings,
        w4,
        # written before sealing (no source field): the monitor reads the clinic from the bytes
        lambda i: {"reason": "out_of_range:glucose", "original_value": original, "source": None},
    )
    _produce(settings, predictions)
    monitor = Monitor(settings)
    _run(
        [monitor],
        lambda: monitor.stats.windows_closed >= 7 and monitor.stats.dead_letters == 60,
    )
    version = predictions[0]["model_version"]
    counts = WindowStore(settings).counts(version, w4)
    assert int(counts[b"clinic-b|d:out_of_range"]) == 60 and int(counts[b"clinic-b|n"]) == 200
    assert b"clinic-a|d:out_of_range" not in counts
    fired = {
        (a.segment, a.statistic)
        for a in monitor.stats.alerts
        if a.status == "FIRING" and a.window_start == w4
    }
    assert ("clinic-b", "dead_letter_rate") in fired and (None, "dead_letter_rate") in fired
    assert not [a for a in monitor.stats.alerts if a.segment == "clinic-b" and a.window_start < w4]
    assert not [a for a in monitor.stats.alerts if a.segment == "clinic-a"], [
        a.message for a in monitor.stats.alerts if a.segment == "clinic-a"
    ]
    clinic_b = [a for a in monitor.stats.alerts if a.segment == "clinic-b"]
    rate = next(a for a in clinic_b if a.statistic == "dead_letter_rate")
    assert rate.value == pytest.approx(60 / 260)


def test_a_correlation_change_raises_the_multivariate_alert_and_no_feature_alert(
    deployment: Settings,
) -> None:
    """BMI's correlations with the other features change sign, every marginal stays put
    (the simulator's correlation-change scenario): the joint structure's alert fires in the
    first changed window, HIGH enough to ask for a retrain, and no feature's does."""
    settings = deployment
    registry = Registry(settings)
    version = registry.alias_version(CHAMPION)
    assert version is not None
    model = registry.load(version)
    assert "joint" in model.reference, "the bootstrap champion has a joint reference"
    per_window, changed = 1_000, (3, 4)
    scenario = Scenario.named("correlation-change", changed[0] * per_window)
    batch = Simulator(PimaModel.fit(), scenario, seed=9).draw(6 * per_window)
    predictions = []
    for w in range(6):  # 3 clean, 2 changed, 1 that moves the watermark past them
        rows = batch.frame.iloc[w * per_window : (w + 1) * per_window].reset_index(drop=True)
        predictions += _window_predictions(model, version, rows, w)
    _produce(settings, predictions)
    monitor = Monitor(settings)
    _run([monitor], lambda: monitor.stats.windows_closed >= 5, timeout=120)
    joint = [a for a in monitor.stats.alerts if a.kind == AlertKind.MULTIVARIATE_DRIFT]
    assert [(a.status, a.window_start) for a in joint][:1] == [
        ("FIRING", T0 + changed[0] * WINDOW_S * 1000)
    ], monitor.stats.alerts
    assert joint[0].severity in ("HIGH", "CRITICAL") and joint[0].feature is None
    features = [a for a in monitor.stats.alerts if a.kind == AlertKind.DATA_DRIFT]
    assert features == [], [a.message for a in features]
    for start in (T0 + w * WINDOW_S * 1000 for w in (0, 1, 2)):
        assert not any(v.drifting for v in monitor.stats.verdicts[start])
