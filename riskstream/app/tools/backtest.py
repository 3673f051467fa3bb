"""Backtesting registered model versions on recorded traffic.

A historical range of ``patient-records`` is read straight from Kafka (assign(), no commits)
and joined by request id to the ``ground-truth`` that arrived for it; each version then scores
the whole range with its own feature pipeline. Metrics are computed per time bucket and over
the range, drift per bucket against each version's reference, and the versions are ranked:
the first would have been the better champion over that period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np
import pandas as pd
from typing_extensions import TypedDict

from riskstream.app.tools.labels_beside import labels_read_beside
from riskstream.core.errors import RiskstreamError
from riskstream.core.topics import PATIENT_RECORDS
from riskstream.core.worker_slices import ChampionSettings
from riskstream.io.kafka.clients import codec_for
from riskstream.io.kafka.patient_keys import ForgottenPatients
from riskstream.io.kafka.reading import Start, messages
from riskstream.models.bundle import ScoringModel
from riskstream.models.monitoring.statistics import psi
from riskstream.models.reference import bin_index
from riskstream.models.registry import Registry
from riskstream.models.selection import evaluate
from riskstream.schemas import CodecError
from riskstream.schemas.patient_record import RAW_FEATURES, valid_rows

Progress = Callable[[str, int], None]  # (stage, records so far)


class BacktestError(RiskstreamError):
    """A backtest could not run on the requested range."""


@dataclass(frozen=True)
class LabeledRange:
    """The joined range: raw features, outcomes and event times, one row per record."""

    features: pd.DataFrame
    outcome: np.ndarray
    event_ms: np.ndarray
    records_read: int
    invalid: int
    unlabeled: int


@dataclass
class VersionResult:
    version: str
    ref: str
    kind: str
    overall: dict[str, float]
    buckets: list[dict[str, float]]
    drift: dict[str, list[float]]  # feature → PSI per bucket
    calibration: list[tuple[float, float, int]]  # (mean risk, observed rate, n) per bin


class BacktestRange(TypedDict):
    start_ms: int
    end_ms: int
    bucket_ms: int


class BacktestSummary(TypedDict):
    """A backtest as its ``summary.json`` holds it (and the console lists it)."""

    range: BacktestRange
    records: int
    invalid: int
    unlabeled: int
    seconds: float
    records_per_second: float | None
    ranking_metric: str
    ranking: list[str]
    better_champion: str | None
    versions: list[dict[str, object]]


@dataclass
class BacktestResult:
    start_ms: int
    end_ms: int
    bucket_ms: int
    records: int
    invalid: int
    unlabeled: int
    seconds: float
    ranking_metric: str
    versions: list[VersionResult] = field(default_factory=list)

    @property
    def ranking(self) -> list[str]:
        """Versions, best first: the ranking metric over the range, Brier score breaking ties."""
        ordered = sorted(
            self.versions,
            key=lambda v: (-_finite(v.overall.get(self.ranking_metric)), v.overall["brier"]),
        )
        return [v.version for v in ordered]

    def summary(self) -> BacktestSummary:
        return {
            "range": {
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
                "bucket_ms": self.bucket_ms,
            },
            "records": self.records,
            "invalid": self.invalid,
            "unlabeled": self.unlabeled,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records / self.seconds, 1) if self.seconds else None,
            "ranking_metric": self.ranking_metric,
            "ranking": self.ranking,
            "better_champion": self.ranking[0] if self.versions else None,
            "versions": [dict(v.__dict__) for v in self.versions],
        }


def _finite(value: float | None) -> float:
    return float(value) if value is not None and np.isfinite(value) else -np.inf


def read_labeled_range(
    settings: ChampionSettings, start: Start, stop: Start | None, progress: Progress | None = None
) -> LabeledRange:
    """Records in [start, stop) that pass validation, joined to their ground truth."""
    codec = codec_for(settings)
    fields = (*RAW_FEATURES, "insulin")  # every field with a range rule
    values_of = itemgetter(*fields)  # every field is in a decoded record (null: None)
    rows: dict[str, tuple[int, tuple[float | None, ...]]] = {}
    nan: set[str] = set()  # a NaN value is invalid; in a frame it would pass for a null
    read = invalid = 0
    with labels_read_beside(settings, start) as labels:
        forgotten = ForgottenPatients.read(settings)  # erased patients' records are left out
        for m in messages(settings, settings.topic(PATIENT_RECORDS.name), start, stop):
            read += 1
            try:
                record = codec.decode(m.value(), "PatientRecord", times_as_ms=True)
            except CodecError:
                invalid += 1
                continue
            if forgotten and forgotten.holds(record["patient_id"], record["event_time"]):
                continue
            values = values_of(record)
            rid = record["request_id"]
            if any(v != v for v in values):  # None != None is False: only NaN
                nan.add(rid)
            rows[rid] = (record["event_time"], values)
            if progress is not None and read % 5000 == 0:
                progress("records", read)
        every_outcome = labels()
    ids = [rid for rid in rows if rid not in nan]
    frame = pd.DataFrame([rows[r][1] for r in ids], columns=list(fields), dtype=float)
    valid = valid_rows(frame)  # the scorer's validate_record, vectorised
    invalid += len(rows) - int(valid.sum())
    ids = [rid for rid, ok in zip(ids, valid, strict=True) if ok]
    frame = frame[valid].drop(columns=["insulin"]).reset_index(drop=True)
    if not ids:
        raise BacktestError(
            "no valid patient records in the range",
            topic=settings.topic(PATIENT_RECORDS.name),
            hint="widen --from/--to, or check the topic prefix",
        )
    rows = {rid: rows[rid] for rid in ids}
    outcomes = {rid: every_outcome[rid] for rid in ids if rid in every_outcome}
    if progress is not None:
        progress("labels", len(outcomes))
    labeled = np.array([rid in outcomes for rid in ids], dtype=bool)
    joined = [rid for rid, ok in zip(ids, labeled, strict=True) if ok]
    if not joined:
        raise BacktestError(
            "none of the records in the range has ground truth yet",
            hint="labels arrive later than records: pick an older range or wait",
        )
    return LabeledRange(
        frame[labeled].reset_index(drop=True),
        np.array([outcomes[r] for r in joined]),
        np.array([rows[r][0] for r in joined]),
        read,
        invalid,
        len(rows) - len(joined),
    )


def calibration(y: np.ndarray, risk: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    index = np.minimum((risk * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append((float(risk[mask].mean()), float(y[mask].mean()), int(mask.sum())))
    return out


def score_version(
    model: ScoringModel, ref: str, data: LabeledRange, bucket: np.ndarray, buckets: int
) -> VersionResult:
    """Metrics per bucket and overall, drift per bucket against this version's reference."""
    features, risk = model.predict_frame(data.features)
    frame = pd.DataFrame(features, columns=model.feature_names)
    y = data.outcome
    per_bucket = []
    for b in range(buckets):
        mask = bucket == b
        metrics = evaluate(y[mask], risk[mask], model.threshold) if mask.sum() else {"n": 0.0}
        per_bucket.append(metrics)
    drift: dict[str, list[float]] = {}
    for name, hist in model.reference["features"].items():
        bins = bin_index(hist["edges"], frame[name].to_numpy())
        values = []
        for b in range(buckets):
            counts = np.bincount(bins[bucket == b], minlength=len(hist["edges"]) + 1)
            values.append(psi(hist["counts"], counts) if counts.sum() else float("nan"))
        drift[name] = values
    return VersionResult(
        model.version,
        ref,
        model.kind,
        evaluate(y, risk, model.threshold),
        per_bucket,
        drift,
        calibration(y, risk),
    )


def backtest(
    settings: ChampionSettings,
    refs: Sequence[str],
    start: Start,
    stop: Start | None = None,
    buckets: int = 10,
    progress: Progress | None = None,
) -> BacktestResult:
    began = time.monotonic()
    registry = Registry(settings)
    models = [(ref, registry.load(ref)) for ref in refs]  # fail fast on a bad version
    data = read_labeled_range(settings, start, stop, progress)
    low, high = int(data.event_ms.min()), int(data.event_ms.max()) + 1
    width = max(1, -(-(high - low) // buckets))
    bucket = np.minimum((data.event_ms - low) // width, buckets - 1)
    result = BacktestResult(
        low,
        high,
        width,
        len(data.outcome),
        data.invalid,
        data.unlabeled,
        0.0,
        settings.selection_metric,
    )
    for ref, model in models:
        result.versions.append(score_version(model, ref, data, bucket, buckets))
        if progress is not None:
            progress(f"scored version {model.version}", len(data.outcome))
    result.seconds = time.monotonic() - began
    return result
