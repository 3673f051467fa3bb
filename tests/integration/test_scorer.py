"""The scorer against the real broker and MLflow: scoring, the malformed-input flood, hot
swap, failed swap, and a SIGKILL mid-stream (of one of `run scorer --processes 2`) that
neither loses nor duplicates a prediction."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from riskstream.core.settings import Settings
from riskstream.core.topics import DEAD_LETTER, PATIENT_RECORDS, PREDICTIONS
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.model_events import publish_model_event
from riskstream.io.kafka.patient_keys import PatientKeyring
from riskstream.models.bootstrap import bootstrap
from riskstream.models.registry import CHAMPION, Registry
from riskstream.schemas.events import DeadLetter, ModelVersionEvent
from riskstream.stream_processors.monitor import Monitor
from riskstream.stream_processors.scorer import Scorer
from riskstream.stream_processors.window_store import WindowStore
from tests.integration.conftest import (
    deployment_with_champion,
    drain_committed,
    process_env,
    read_messages,
)
from tests.integration.servers import (
    free_port_run,
    http_get,
    metric_samples,
    metric_value,
    wait_until_ready,
)
from tests.unit.schemas.samples import SAMPLES
from tests.waiting import eventually, wait_for

REPO = Path(__file__).resolve().parents[2]


DEPLOYMENT = {"stem": "sc", "champion": True, "shared": True}


def _record(i: int, **changes: Any) -> dict[str, Any]:
    return {
        **SAMPLES["PatientRecord"],
        "request_id": f"req-{i}",
        "patient_id": f"p-{i % 50}",
        "glucose": 80.0 + (i % 120),
        "age": 21 + (i % 50),
        **changes,
    }


def _produce(settings: Settings, items: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer(settings.kafka_config({"linger.ms": 5, "message.max.bytes": 2_000_000}))
    for key, value in items:
        producer.produce(settings.topic(PATIENT_RECORDS.name), key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def _valid(settings: Settings, n: int, start: int = 0) -> list[tuple[bytes | None, bytes]]:
    codec = codec_for(settings)
    return [
        (r["patient_id"].encode(), codec.encode("PatientRecord", r))
        for r in (_record(i) for i in range(start, start + n))
    ]


def _run_scorer(
    settings: Settings, **kwargs: Any
) -> tuple[Scorer, threading.Event, threading.Thread]:
    scorer = Scorer(settings, **kwargs)
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()
    return scorer, stop, thread


def test_malformed_flood_dead_letters_every_bad_input_and_scores_every_good_one(
    deployment: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Through a (confluent-kafka in-process) schema registry, so an older producer schema
    # without `age` has an id the scorer can resolve: the record then misses a field.
    deployment = deployment_with_champion(
        deployment,
        "fl",
        deployment.state_dir,
        schema_registry_url=f"mock://flood-{uuid.uuid4().hex[:6]}",
    )
    good = _valid(deployment, 200, start=10_000)
    bad = _malformed_inputs(deployment)
    mixed = good[:100] + list(bad.values()) + good[100:]
    _produce(deployment, mixed)
    _, stop, thread = _run_scorer(deployment)
    try:
        predictions = drain_committed(deployment, PREDICTIONS.name, "Prediction", 200)
        letters = drain_committed(deployment, DEAD_LETTER.name, "DeadLetter", len(bad))
    finally:
        stop.set()
        thread.join(30)
    assert thread.is_alive() is False  # zero crashes: it stopped because we asked
    assert sorted(p["request_id"] for p in predictions) == sorted(
        f"req-{i}" for i in range(10_000, 10_200)
    )
    reasons = sorted(letter["reason"] for letter in letters)
    expected = sorted("wrong_magic_byte" if k == "json" else k for k in bad)
    assert reasons == expected
    # at rest each original is sealed under its patient's key; opened, it is byte for byte
    assert all(letter["original_value"] is None and letter["sealed_original"] for letter in letters)
    keyring = PatientKeyring(deployment).load()
    opened = [keyring.open_letter(DeadLetter.from_avro(letter)) for letter in letters]
    keyring.close()
    by_reason = {letter.reason: letter for letter in opened if letter is not None}
    assert len(by_reason) == len(set(reasons))
    assert by_reason["oversized_payload"].original_value == bad["oversized_payload"][1]
    assert by_reason["wrong_key"].original_key == bad["wrong_key"][0]
    assert by_reason["out_of_range:glucose"].source == _record(5)["source"]
    assert all(
        letter["source_topic"] == deployment.topic(PATIENT_RECORDS.name) for letter in letters
    )
    # health data stays out of the logs above debug: no patient id, request id or value
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "scorer: consuming" in logged  # the capture works
    for pattern in (r"\bp-\d+\b", r"req-\d+", r"90000", r"\bnan\b"):
        assert not re.search(pattern, logged), f"{pattern} logged above debug"


def _malformed_inputs(deployment: Settings) -> dict[str, tuple[bytes | None, bytes]]:
    """One (key, value) per way an input can be unusable, by the reason it must be
    dead-lettered with (``json``: as wrong_magic_byte)."""
    from riskstream.schemas import AvroCodec, RegistrySchemaSource

    codec = codec_for(deployment)
    valid = codec.encode("PatientRecord", _record(1))
    no_age = {k: v for k, v in _record(2).items() if k != "age"}
    schema = json.loads((REPO / "schemas" / "PatientRecord.avsc").read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "age"]
    old_producer = AvroCodec(
        RegistrySchemaSource(deployment.schema_registry_url or ""),
        reader_schemas={"PatientRecord": schema},
    )
    return {
        "truncated_payload": (b"p-1", valid[:15]),
        "wrong_magic_byte": (b"p-1", b"\x05" + valid[1:]),
        "unknown_schema_id": (b"p-1", b"\x00" + struct.pack(">I", 12345) + valid[5:]),
        "json": (b"p-1", json.dumps({"glucose": 100}).encode()),
        "empty_payload": (b"p-1", b""),
        "nan:glucose": (b"p-3", codec.encode("PatientRecord", _record(3, glucose=math.nan))),
        "negative:age": (b"p-4", codec.encode("PatientRecord", _record(4, age=-1))),
        "out_of_range:glucose": (b"p-5", codec.encode("PatientRecord", _record(5, glucose=9e4))),
        "missing_field": (b"p-2", old_producer.encode("PatientRecord", no_age)),
        "oversized_payload": (b"p-6", valid + os.urandom(1_000_000)),
        "wrong_key": (struct.pack(">q", 6), codec.encode("PatientRecord", _record(6))),
    }


def test_hot_swap_and_a_failed_swap(deployment: Settings) -> None:
    registry = Registry(deployment)
    old = registry.alias_version(CHAMPION)
    scorer, stop, thread = _run_scorer(deployment)
    try:
        # the follower reads model-versions from where it ended when the champion was read
        eventually(lambda: scorer.models.current, 30, "the scorer loads its champion")
        new = bootstrap(deployment).version  # a challenger
        registry.promote(new)
        publish_model_event(
            deployment,
            ModelVersionEvent.announce(
                deployment.model_name, "PROMOTED", version=new, alias=CHAMPION, previous_version=old
            ),
        )
        eventually(lambda: scorer.models.current.version == new, 30, f"version {new} serves")
        _produce(deployment, _valid(deployment, 30, start=20_000))
        predictions = drain_committed(deployment, PREDICTIONS.name, "Prediction", 30)
        served = {p["model_version"] for p in predictions if p["request_id"].startswith("req-20")}
        assert served == {new}

        publish_model_event(
            deployment,
            ModelVersionEvent.announce(
                deployment.model_name,
                "PROMOTED",
                version="999",
                alias=CHAMPION,
                previous_version=new,
            ),
        )
        eventually(lambda: scorer.models.load_failures, 90, "the missing version fails to load")
        assert scorer.models.load_failures == 1
        assert scorer.models.current.version == new  # the old version keeps serving
    finally:
        stop.set()
        thread.join(30)


def test_scorer_processes_share_the_partitions_and_a_killed_one_loses_and_repeats_nothing(
    deployment: Settings,
) -> None:
    """Scale out with `run scorer --processes 2`: the two processes of one group split six
    partitions and each does part of the work. One of them is SIGKILLed mid-stream: the
    command stops the other and exits non-zero (its supervisor restarts the set); the
    restarted set leaves every record scored exactly once, and the drift windows count each
    record once."""
    settings = deployment_with_champion(deployment, "two", deployment.state_dir, partitions=6)
    total = 6000
    first_port = free_port_run(2, step=1)
    ports = {"0": first_port, "1": first_port + 1}
    argv = [sys.executable, "-m", "riskstream.app.cli.main", "run", "scorer", "--batch-size", "100"]
    argv += ["--processes", "2", "--instance", "t", "--ops-port", str(first_port)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    group = subprocess.Popen(argv, env=process_env(settings), **quiet)  # type: ignore[call-overload]
    try:
        for port in ports.values():
            wait_until_ready(f"http://127.0.0.1:{port}", timeout=120)
        split = _wait_for_split(ports, partitions=6, timeout=60)
        records = _valid(settings, total)
        feed = threading.Thread(target=_trickle, args=(settings, records, 100, 0.05), daemon=True)
        feed.start()  # about 3 s of traffic: the kill lands mid-stream
        eventually(
            lambda: all(_scorer_metric(p, "riskstream_records_in_total") for p in ports.values()),
            90,
            "both scorer processes scoring",
        )
        scored = sum(_scorer_metric(p, "riskstream_records_in_total") for p in ports.values())
        (victim, *_) = _children(group.pid)
        os.kill(victim, signal.SIGKILL)
        code = group.wait(60)  # noticed within a second; the other one stopped gracefully
    finally:
        if group.poll() is None:
            group.send_signal(signal.SIGTERM)
            group.wait(60)
    feed.join(60)
    assert code == 1, f"the scorer set exited {code} after a process was killed"
    assert scored < total, "the scorers finished before one could be killed mid-stream"
    again = subprocess.Popen(argv, env=process_env(settings), **quiet)  # type: ignore[call-overload]
    try:
        predictions = drain_committed(settings, PREDICTIONS.name, "Prediction", total, 120)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(60) == 0, "the scorer set did not stop cleanly on SIGTERM"
    ids = [p["request_id"] for p in predictions]
    assert len(set(ids)) == total, f"{len(set(ids))} distinct of {total}"
    assert len(ids) == total, f"{len(ids) - len(set(ids))} duplicates"
    _assert_windows_count_each_prediction_once(settings, predictions)
    print(f"two scorer processes: {total} records, {len(ids)} predictions; owned {split}")


def _trickle(
    settings: Settings, items: list[tuple[bytes | None, bytes]], chunk: int, pause_s: float
) -> None:
    for start in range(0, len(items), chunk):
        _produce(settings, items[start : start + chunk])
        time.sleep(pause_s)  # pacing the traffic, not waiting for a result


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    children = [int(c) for c in text.split()]
    assert children, f"process {pid} has no children"
    return children


def _assert_windows_count_each_prediction_once(
    settings: Settings, predictions: list[dict[str, Any]]
) -> None:
    """Run a drift monitor over the predictions; its Redis windows must hold exactly the
    predictions of each window."""
    monitor = Monitor(settings)
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: monitor.stats.records >= len(predictions), 60)
    stop.set()
    thread.join(30)
    size_ms = settings.monitor_window_s * 1000
    expected = Counter(
        int(p["event_time"].timestamp() * 1000) // size_ms * size_ms for p in predictions
    )
    store = WindowStore(settings)
    version = predictions[0]["model_version"]
    assert {s: int(store.counts(version, s)[b"n"]) for s in expected} == dict(expected)


def _scorer_metric(port: int, name: str) -> int:
    status, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200, f"the scorer on port {port} answered /metrics with {status}"
    return int(metric_value(metric_samples(text), name, processor="scorer") or 0)


def _wait_for_split(ports: dict[str, int], partitions: int, timeout: float) -> dict[str, int]:
    """Wait until the group's rebalance gave every scorer some of the partitions."""

    def owned() -> dict[str, int]:
        owned = {i: _scorer_metric(p, "riskstream_assigned_partitions") for i, p in ports.items()}
        assert all(owned.values()) and sum(owned.values()) == partitions, owned
        return owned

    return eventually(owned, timeout, f"the scorers split the {partitions} partitions")


def _wait_for_some_predictions(settings: Settings, minimum: int, timeout: float) -> int:
    """Used by the canary and shadow tests too: wait until ``minimum`` predictions exist."""
    count = len(read_messages(settings, settings.topic(PREDICTIONS.name), minimum, timeout))
    assert count >= minimum, f"only {count} predictions within {timeout}s"
    return count
