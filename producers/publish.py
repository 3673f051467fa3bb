"""Publishing patient records (and, for simulations, their delayed ground truth) to Kafka.

Rows are validated before producing, with the same rules the scorer applies; invalid rows are
rejected with their row numbers unless ``allow_invalid`` asks to send them anyway (to exercise
the dead-letter path). Every produce gets a delivery report; nothing is skipped silently.
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from riskstream.core.errors import RiskstreamError
from riskstream.core.ids import new_id, now_ms
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import GROUND_TRUTH, PATIENT_RECORDS
from riskstream.io.kafka.clients import DeliveryTally, codec_for
from riskstream.io.kafka.factory import idempotent_producer
from riskstream.io.kafka.recovering_producer import RecoveringProducer
from riskstream.producers.simulator import SimulatedRecord
from riskstream.schemas.events import GroundTruth, PatientRecord
from riskstream.schemas.patient_record import RAW_FEATURES, validate_record

OPTIONAL = ("glucose", "blood_pressure", "skin_thickness", "insulin", "bmi")


@dataclass
class PublishSummary:
    sent: int = 0
    labels_sent: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (row number, reason)
    sent_invalid: int = 0
    delivered: int = 0
    failed: int = 0
    seconds: float = 0.0
    # labels from a file: joinable | late | unknown | unchecked → count (see labels.py)
    label_fates: dict[str, int] = field(default_factory=dict)
    unchecked_reason: str = ""

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class FileRowError(RiskstreamError):
    """A row of an input file could not be read as a PatientRecord."""


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, raw dict) from a CSV (header = field names) or JSONL file. A JSONL line
    that is not a JSON object comes as ``{ROW_ERROR: why}``: a bad row, not a failed file."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open() as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, _json_row(line)
        return
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):  # row 1 is the header
            yield number, row


ROW_ERROR = "__row_error__"


def _json_row(line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return {ROW_ERROR: f"not JSON ({exc.msg})"}
    return row if isinstance(row, dict) else {ROW_ERROR: "not a JSON object"}


def to_record(raw: dict[str, Any], received_ms: int, source: str) -> PatientRecord:
    """A raw row → PatientRecord; raises FileRowError naming the bad field. Only numbers
    are checked here: the scorer's validation (and its dead-letter topic) judges the rest."""
    if ROW_ERROR in raw:
        raise FileRowError(raw[ROW_ERROR], field="line")
    record: dict[str, Any] = {
        "request_id": str(raw.get("request_id") or uuid.uuid4()),
        "patient_id": str(raw.get("patient_id") or ""),
        "source": str(raw.get("source") or source),
        "event_time": int(raw.get("event_time") or received_ms),
    }
    if not record["patient_id"]:
        raise FileRowError("row has no patient_id", field="patient_id")
    for name in (*RAW_FEATURES, "insulin"):
        value = raw.get(name)
        if value in (None, ""):
            record[name] = None
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise FileRowError("value is not a number", field=name) from None
        record[name] = (
            int(number) if name in ("pregnancies", "age") and number.is_integer() else number
        )
    return PatientRecord(**record)


class Publisher:
    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.codec = codec_for(settings)
        self.tally = DeliveryTally()
        self.records_topic = settings.topic(PATIENT_RECORDS.name)
        self.truth_topic = settings.topic(GROUND_TRUTH.name)

    @cached_property
    def producer(self) -> RecoveringProducer:
        """Made on first use: building a publisher does no I/O."""
        return idempotent_producer(self.settings)

    def connect(self, timeout_s: float = 10.0) -> Publisher:
        """Make the producer and reach the broker now, so the first send does not wait for
        them (a sender that times each send, as the latency benchmark does)."""
        self.producer.list_topics(timeout=timeout_s)
        return self

    def send_record(self, record: PatientRecord) -> None:
        self.producer.produce(
            self.records_topic,
            key=record.patient_id.encode(),
            value=self.codec.encode_event(record),
            on_delivery=self.tally,
        )
        self.producer.poll(0)

    def send_truth(self, record: PatientRecord, outcome: int) -> None:
        truth = GroundTruth(
            label_id=new_id(),
            request_id=record.request_id,
            patient_id=record.patient_id,
            event_time=now_ms(),
            outcome=int(outcome),
            source=record.source,
        )
        self.send_label(truth)

    def send_label(self, truth: GroundTruth) -> None:
        self.producer.produce(
            self.truth_topic,
            key=truth.patient_id.encode(),
            value=self.codec.encode_event(truth),
            on_delivery=self.tally,
        )
        self.producer.poll(0)

    def finish(self, summary: PublishSummary, timeout: float = 30.0) -> PublishSummary:
        remaining = self.producer.flush(timeout)
        summary.delivered = self.tally.delivered
        summary.failed = self.tally.failed + remaining
        return summary


def publish_file(
    settings: ClusterSettings,
    path: Path,
    *,
    allow_invalid: bool = False,
    rate: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
) -> PublishSummary:
    publisher = Publisher(settings)
    summary = PublishSummary()
    started = time.monotonic()
    for number, raw in read_rows(path):
        try:
            record = to_record(raw, now_ms(), source=path.name)
        except FileRowError as exc:
            summary.rejected.append((number, f"{exc.context.get('field')}: {exc.message}"))
            continue
        violation = validate_record(record.to_avro())
        if violation is not None:
            if not allow_invalid:
                summary.rejected.append((number, violation.reason))
                continue
            summary.sent_invalid += 1
        _pace(started, summary.sent, rate)
        publisher.send_record(record)
        summary.sent += 1
        if on_progress:
            on_progress(summary.sent)
    summary.seconds = time.monotonic() - started
    return publisher.finish(summary)


def publish_simulated(
    settings: ClusterSettings,
    records: Iterable[SimulatedRecord],
    *,
    labels: bool = False,
    speed: float = 1.0,
    on_progress: Callable[[int], None] | None = None,
) -> PublishSummary:
    """Publish at the simulator's pace (``speed`` 2 = twice as fast); with ``labels``, each
    outcome goes to ground-truth after its delay."""
    publisher = Publisher(settings)
    summary = PublishSummary()
    pending: list[tuple[float, int, PatientRecord, int]] = []
    started = time.monotonic()
    for i, sim in enumerate(records):
        _sleep_until(started + sim.offset_s / speed, pending, publisher, summary, started, speed)
        publisher.send_record(sim.record)
        summary.sent += 1
        if labels:
            heapq.heappush(pending, (sim.offset_s + sim.label_delay_s, i, sim.record, sim.outcome))
        if on_progress:
            on_progress(summary.sent)
    summary.seconds = time.monotonic() - started
    while pending:
        due, _, record, outcome = heapq.heappop(pending)
        wait = started + due / speed - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        publisher.send_truth(record, outcome)
        summary.labels_sent += 1
    return publisher.finish(summary)


def _sleep_until(
    deadline: float,
    pending: list,
    publisher: Publisher,
    summary: PublishSummary,
    started: float,
    speed: float,
) -> None:
    """Wait for the next record's time, sending the labels that fall due meanwhile."""
    while True:
        now = time.monotonic()
        if pending and started + pending[0][0] / speed <= min(now, deadline):
            _, _, record, outcome = heapq.heappop(pending)
            publisher.send_truth(record, outcome)
            summary.labels_sent += 1
            continue
        if now >= deadline:
            return
        next_label = started + pending[0][0] / speed if pending else math.inf
        time.sleep(max(0.0, min(deadline, next_label) - now))


def _pace(started: float, sent: int, rate: float) -> None:
    if rate > 0:
        wait = started + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
