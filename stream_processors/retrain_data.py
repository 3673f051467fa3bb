"""What a retrain learns from: the request (merged when several arrive during a run), and its
labeled examples split in time, with their lineage and the version's recent reference."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskstream.core.topics import LABELED_EXAMPLES
from riskstream.core.worker_slices import MonitoringSettings
from riskstream.models import data as bundled
from riskstream.models.features import PIPELINE_VERSION
from riskstream.schemas import AvroCodec
from riskstream.schemas.events import ModelVersionEvent, RetrainRequest
from riskstream.stream_processors.labeled_examples import ExampleRow, read_labeled, rows_frame

log = logging.getLogger(__name__)
LABEL_POLL_S = 2.0  # how often a retrain waiting for labels reads them again
REFERENCE_MAX = 5000  # examples in a recent reference: enough for steady PSI, and recent
# fewer than this and PSI noise alone reaches the 0.06 that resolves an alert: a demo run's
# reference of 308 records kept a resolved drift firing at PSI 0.096-0.117
REFERENCE_MIN = 1000


@dataclass
class MergedRequest:
    """One or more RetrainRequests handled by one training run."""

    retrain_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    range_start: int | None = None
    range_end: int | None = None
    unbounded_start: bool = False
    unbounded_end: bool = False

    def add(self, request: RetrainRequest) -> None:
        self.retrain_ids.append(request.retrain_id)
        self.reasons += [r for r in request.reasons if r not in self.reasons]
        self.alert_ids += [a for a in request.alert_ids if a not in self.alert_ids]
        start, end = request.range_start, request.range_end
        self.unbounded_start |= start is None
        self.unbounded_end |= end is None
        if start is not None:
            self.range_start = start if self.range_start is None else min(self.range_start, start)
        if end is not None:
            self.range_end = end if self.range_end is None else max(self.range_end, end)

    @property
    def start(self) -> int | None:
        return None if self.unbounded_start else self.range_start

    @property
    def end(self) -> int | None:
        return None if self.unbounded_end else self.range_end

    def reason_text(self) -> str:
        text = "+".join(self.reasons) or "MANUAL"
        return f"{text} (alerts: {','.join(self.alert_ids)})" if self.alert_ids else text


@dataclass(frozen=True)
class RetrainData:
    """A request's examples, split in time: the older ones train (after the bootstrap
    data), the newest ``retrain_holdout_fraction`` judge."""

    raw: pd.DataFrame
    y: pd.Series
    holdout_raw: pd.DataFrame
    holdout_y: np.ndarray
    holdout_positions: list[tuple[int, int]]
    examples: int
    lineage: dict[str, str]
    reference_raw: pd.DataFrame  # the newest traffic: the drift reference of ``recent``


def retrain_data(
    settings: MonitoringSettings, codec: AvroCodec, request: MergedRequest
) -> RetrainData | ModelVersionEvent:
    """The request's examples split in time, or the SKIPPED event saying why not."""
    s = settings
    batch = read_labeled(
        s, codec, request.start, request.end, s.retrain_max_examples, keep=ExampleRow.of
    )
    lineage = {
        "retrain_ids": ",".join(request.retrain_ids),
        "training_reason": request.reason_text(),
        "labeled_examples": batch.lineage(s.topic(LABELED_EXAMPLES.name)),
        "feature_pipeline": PIPELINE_VERSION,
        # examples of forgotten patients: their features are unreadable, and left out
        "unreadable_examples": str(batch.unreadable),
    }
    ordered = sorted(
        zip(batch.examples, batch.positions, strict=True),
        key=lambda pair: (pair[0].event_time, pair[0].request_id),
    )
    examples = [example for example, _ in ordered]
    labels = {int(e.label) for e in examples}
    skip = None
    if len(examples) < s.retrain_min_examples:
        skip = f"only {len(examples)} labeled examples in the range; need {s.retrain_min_examples}"
    elif len(labels) < 2:
        skip = f"the range holds only one class ({labels.pop()})"
    if skip is not None:
        return ModelVersionEvent.announce(s.model_name, "SKIPPED", lineage=lineage, reason=skip)
    cut = int(len(examples) * (1 - s.retrain_holdout_fraction))
    recent, holdout = examples[:cut], examples[cut:]  # time-ordered: never shuffled across
    # the reference: the range's newest examples after its first window (which a drift
    # may have filled only in part); when that leaves fewer than REFERENCE_MIN (the request
    # came soon after the window its alert judged), the newest REFERENCE_MIN of the range:
    # a small reference is noisy, and its noise keeps a resolved drift alert firing
    settled = request.start + s.monitor_window_s * 1000 if request.start is not None else 0
    reference = [e for e in examples if e.event_time >= settled][-REFERENCE_MAX:]
    if len(reference) < REFERENCE_MIN:
        reference = examples[-max(REFERENCE_MIN, len(holdout)) :]
    boot_raw, boot_y = bundled.load(bundled.TRAIN_FILE)
    lineage["data"] = f"{bundled.TRAIN_FILE} sha256:{bundled.sha256(bundled.TRAIN_FILE)}"
    return RetrainData(
        raw=pd.concat([boot_raw, rows_frame(recent)], ignore_index=True),
        y=pd.concat([boot_y, pd.Series([e.label for e in recent])], ignore_index=True),
        holdout_raw=rows_frame(holdout),
        holdout_y=np.array([e.label for e in holdout]),
        holdout_positions=[position for _, position in ordered[cut:]],
        examples=len(examples),
        lineage=lineage,
        reference_raw=rows_frame(reference),
    )


def examples_when_labeled(
    settings: MonitoringSettings,
    codec: AvroCodec,
    request: MergedRequest,
    stopping: threading.Event,
) -> RetrainData | ModelVersionEvent:
    """The request's examples (:func:`retrain_data`). A range open to now that holds too few
    yet waits for them, ``retrain_label_wait_s`` at most: a drift alert comes seconds after
    its window, labels come later, and a joiner catching up on a backlog later still;
    skipping then would leave the incident with no retrain until the trigger's cooldown ends."""
    deadline = time.monotonic() + settings.retrain_label_wait_s
    while True:
        data = retrain_data(settings, codec, request)
        left = deadline - time.monotonic()
        if (
            not isinstance(data, ModelVersionEvent)
            or data.status != "SKIPPED"
            or request.end is not None
            or left <= 0
            or stopping.is_set()
        ):
            return data
        log.info("trainer: %s; waiting for labels (%.0f s at most)", data.reason, left)
        stopping.wait(min(LABEL_POLL_S, left))
