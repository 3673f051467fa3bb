"""Ground truth from a file (`riskstream publish --labels-from`): a clinic's outcomes, which
the joiner joins to the predictions of the same ``request_id``.

Columns: ``request_id`` and ``outcome`` (1/0, yes/no, true/false), optional ``event_time``
(epoch ms or ISO 8601; default now), ``patient_id`` and ``source``. A label is keyed by its
patient, like the record it belongs to; a file without ``patient_id`` gives labels without
one (the joiner joins by request id; the prediction holds only the patient's pseudonymous
reference, which cannot be turned back into an id). A row whose patient differs from its
prediction's (compared under the pseudonym key) is rejected. Each row is checked against the
joiner's cache first, and counted: joinable (its prediction is waiting), late (the prediction
expired before its label), or unknown (no prediction yet, or never): published all the same
(the joiner waits ``RISKSTREAM_JOINER_GRACE_S`` for an early label's prediction, and
dead-letters the rest with their reason), and reported, never an error that stops the file.
A row that cannot be a label at all (no request id, an outcome that is not 0 or 1, a time
that is not a time) is rejected with its row number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from riskstream.core.ids import new_id, now_ms
from riskstream.core.pseudonyms import patient_ref, pseudonym_key
from riskstream.core.slices import ClusterSettings
from riskstream.io.redis_client import (
    CACHED_AT,
    REDIS_DOWN,
    RedisClient,
    connect,
    mget,
    prediction_key,
    seen_key,
)
from riskstream.models.clinic_data import LABELS as OUTCOMES
from riskstream.producers.publish import (
    ROW_ERROR,
    FileRowError,
    Publisher,
    PublishSummary,
    read_rows,
)
from riskstream.schemas import AvroCodec, CodecError
from riskstream.schemas.events import GroundTruth, Prediction

BATCH = 500  # rows looked up in the joiner's cache at once


@dataclass
class LabelRow:
    number: int
    request_id: str
    outcome: int
    event_time: int
    patient_id: str
    source: str


def to_label_row(number: int, raw: dict[str, Any], received_ms: int, source: str) -> LabelRow:
    """One file row as a label; raises FileRowError naming the field that is wrong."""
    if ROW_ERROR in raw:
        raise FileRowError(raw[ROW_ERROR], field="line")
    request_id = str(raw.get("request_id") or "").strip()
    if not request_id:
        raise FileRowError("row has no request_id", field="request_id")
    outcome = OUTCOMES.get(str(raw.get("outcome", "")).strip().lower())
    if outcome is None:
        raise FileRowError(
            f"outcome {raw.get('outcome')!r} is not 1/0, yes/no or true/false", field="outcome"
        )
    return LabelRow(
        number,
        request_id,
        outcome,
        parse_time(raw.get("event_time"), received_ms),
        str(raw.get("patient_id") or "").strip(),
        str(raw.get("source") or source),
    )


def parse_time(value: Any, default_ms: int) -> int:
    """Epoch milliseconds or an ISO-8601 time (UTC when it names no zone); empty: default."""
    if value in (None, ""):
        return default_ms
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FileRowError(
            f"event_time {text!r} is neither epoch ms nor an ISO time", field="event_time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class JoinerCache:
    """What the joiner holds for a request: its prediction (and so its patient), a marker
    that one expired, or nothing."""

    def __init__(self, settings: ClusterSettings, codec: AvroCodec) -> None:
        self.settings = settings
        self.codec = codec

    @cached_property
    def redis(self) -> RedisClient:
        """Connected on first use: building a publisher does no I/O."""
        return connect(self.settings)

    def look_up(self, request_ids: list[str]) -> list[tuple[str, str | None]]:
        """(``joinable`` | ``late`` | ``unknown``, the prediction's patient reference) per
        request."""
        cached = mget(self.redis, [prediction_key(self.settings, r) for r in request_ids])
        seen = mget(self.redis, [seen_key(self.settings, r) for r in request_ids])
        out: list[tuple[str, str | None]] = []
        for hit, was_seen in zip(cached, seen, strict=True):
            if hit is None:
                out.append(("late" if was_seen is not None else "unknown", None))
                continue
            try:
                prediction = self.codec.decode_event(hit[CACHED_AT.size :], Prediction)
            except CodecError:
                out.append(("joinable", None))
                continue
            out.append(("joinable", prediction.patient_ref or None))
        return out


def publish_labels(
    settings: ClusterSettings,
    path: Path,
    *,
    rate: float = 0.0,
    on_progress: Callable[[int], None] | None = None,
) -> PublishSummary:
    """Publish a file of outcomes to ground-truth; see the module's docstring."""
    publisher = Publisher(settings)
    summary = PublishSummary()
    cache: JoinerCache | None = JoinerCache(settings, publisher.codec)
    key = pseudonym_key(settings)
    started = time.monotonic()
    for rows in _batches(path, summary):
        fates: list[tuple[str, str | None]] = [("unchecked", None)] * len(rows)
        if cache is not None:
            try:
                fates = cache.look_up([row.request_id for row in rows])
            except REDIS_DOWN as exc:  # published unchecked; the joiner still judges each
                summary.unchecked_reason = f"Redis did not answer ({type(exc).__name__})"
                cache = None
        for row, (fate, ref) in zip(rows, fates, strict=True):
            if row.patient_id and ref and patient_ref(key, row.patient_id) != ref:
                summary.rejected.append(
                    (row.number, "patient_id: differs from the patient of its prediction")
                )
                continue
            summary.label_fates[fate] = summary.label_fates.get(fate, 0) + 1
            if rate > 0:
                time.sleep(max(0.0, started + summary.labels_sent / rate - time.monotonic()))
            publisher.send_label(
                GroundTruth(
                    label_id=new_id(),
                    request_id=row.request_id,
                    patient_id=row.patient_id,  # "" when the file has none
                    event_time=row.event_time,
                    outcome=row.outcome,
                    source=row.source,
                )
            )
            summary.labels_sent += 1
            if on_progress:
                on_progress(summary.labels_sent)
    summary.seconds = time.monotonic() - started
    return publisher.finish(summary)


def _batches(path: Path, summary: PublishSummary) -> Iterator[list[LabelRow]]:
    rows: list[LabelRow] = []
    for number, raw in read_rows(path):
        try:
            rows.append(to_label_row(number, raw, now_ms(), path.name))
        except FileRowError as exc:
            summary.rejected.append((number, f"{exc.context.get('field')}: {exc.message}"))
            continue
        if len(rows) >= BATCH:
            yield rows
            rows = []
    if rows:
        yield rows
