"""Drift-detection quality on the simulator's scenarios: riskstream's windowed monitors against
river's ADWIN, KSWIN and PageHinkley run per feature on the same streams, and a detector that
always fires (the baseline that F1-style scores flatter).

No broker here: the streams go through the same pure functions the monitors run (binning over
the champion's reference, ``drift_verdicts`` with its Bonferroni KS gate and hysteresis; for
concept drift, ``performance_conditions`` and ADWIN on the error stream), window by window.
A window is ``WINDOW`` records: the default 60 s window at about 17 records/s.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from river import drift

from bench.common import Echo, bundled_training
from riskstream.models import data
from riskstream.models.bundle import ScoringModel
from riskstream.models.features import measured_mask
from riskstream.models.monitoring.performance_stats import (
    ErrorRateDetector,
    Outcome,
    PerformanceThresholds,
    performance_conditions,
    performance_fields,
    window_metrics,
)
from riskstream.models.monitoring.pit import PitReference
from riskstream.models.monitoring.sequential import SubjectState, subject_step
from riskstream.models.monitoring.statistics import DriftThresholds, drift_verdicts
from riskstream.models.multivariate import reconstruction_errors
from riskstream.models.reference import bin_index, drift_reference
from riskstream.models.training import train
from riskstream.producers import pima_rows
from riskstream.producers.simulator import PimaModel, Scenario, Simulator
from riskstream.schemas.patient_record import RAW_FEATURES

WINDOW = 1000
SUB_WINDOW = 20  # the sequential test's sub-window: a fiftieth of a window (the default)
SCORE = "__score__"
STREAM_SEED = 17  # the simulator's seed for the table's streams
PHASE_SEEDS = (18, 19, 20)  # three more draws of the abrupt shift, for the onset phases
GRADUAL_SEEDS = (18, 19, 20, 21, 22)  # five more draws of the gradual ramp
GRADUAL = "gradual 1 sd glucose over 20 windows"
JOINT = "__joint__"
SEVERE = ("MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class Stream:
    name: str
    frame: pd.DataFrame  # raw features
    outcome: np.ndarray
    onset: int | None  # first drifted record; None for the clean control
    champion: ScoringModel | None = None  # the version judging it, if not the bootstrap one
    former: ScoringModel | None = None  # the same version with its training-set reference


def abrupt_shift(onset: int) -> Scenario:
    """Glucose up 0.5 sd from ``onset`` on: the table's abrupt stream and its other draws."""
    return Scenario.named("covariate-shift", onset, size_sd=0.5)


def gradual_ramp(onset: int) -> Scenario:
    """Glucose up 1 sd over 20 windows from ``onset`` on: the gradual stream and its draws."""
    return Scenario.named("covariate-shift", onset, size_sd=1.0, ramp=20 * WINDOW)


def streams(model: PimaModel, scale: float) -> list[Stream]:
    n = int(60_000 * scale)
    onset = int(30_000 * scale) // WINDOW * WINDOW + WINDOW // 2  # mid-window, as in life
    specs = [
        ("abrupt 0.5 sd glucose", abrupt_shift(onset), n),
        (GRADUAL, gradual_ramp(onset), n + int(20_000 * scale)),
        ("concept drift", Scenario.named("concept-drift", onset), n),
        ("correlation change (bmi mirrored)", Scenario.named("correlation-change", onset), n),
        ("clean control", Scenario.named("none"), int(1_000_000 * scale)),
    ]
    out = []
    for name, scenario, count in specs:
        batch = Simulator(model, scenario, seed=STREAM_SEED).draw(count)
        out.append(
            Stream(name, batch.frame, batch.outcome, None if name == "clean control" else onset)
        )
    rows, outcome = pima_rows.resample(int(200_000 * scale), np.random.default_rng(17))
    out.append(Stream("complete real Pima rows (clean)", rows, outcome, None))
    out.append(after_promotion(model, scale))
    return out


def after_promotion(model: PimaModel, scale: float) -> Stream:
    """The demo's drifted regime (glucose +1 sd and a concept change) after the retrain it
    asked for: version 2 trained as the trainer does (Pima.tr2 plus 700 drifted labeled
    examples, validated on the newest 300: about what the demo's retrain reads), then judged
    on 50,000 more records of the same regime. Nothing drifts within the stream, so every
    alert is a false alarm; set against the same version with its whole training set as
    the reference, as before this fix."""
    regime = Scenario.named("drift-demo", 0)
    labeled = Simulator(model, regime, seed=23).draw(1000)
    raw, y = data.load(data.TRAIN_FILE)
    recent, holdout = labeled.frame.iloc[:700], labeled.frame.iloc[700:]
    frame = pd.concat([raw, recent], ignore_index=True)
    outcome = pd.concat([y, pd.Series(labeled.outcome[:700])], ignore_index=True)
    former = train(frame, outcome, seed=0).model
    version2 = copy.deepcopy(former)
    _, risk = version2.predict_frame(holdout)
    version2.reference.update(drift_reference(holdout, version2.pipeline.frame(holdout), risk))
    served = Simulator(model, regime, seed=29).draw(int(50_000 * scale))
    return Stream(
        "after a promotion, same regime", served.frame, served.outcome, None, version2, former
    )


def champion() -> tuple[ScoringModel, dict[str, float]]:
    """The champion the bootstrap trains, and its CV metrics."""
    result = copy.deepcopy(bundled_training())
    return result.model, {f"cv_{k}": v for k, v in result.selected.cv_metrics.items()}


@dataclass
class Events:
    """Where a detector fired: record indices; ``severe``: those of MEDIUM or above, for
    the detectors that grade their alarms (the ones that page an operator)."""

    fired: list[int]
    severe: list[int] | None = None

    def summary(self, stream: Stream, seconds: float) -> dict[str, Any]:
        onset = stream.onset
        clean_n = onset if onset is not None else len(stream.frame)
        false_alarms = [i for i in self.fired if onset is None or i < onset]
        result: dict[str, Any] = {
            "false_alarms": len(false_alarms),
            "false_alarms_per_100k": len(false_alarms) / clean_n * 100_000,
            "seconds": round(seconds, 2),
        }
        if self.severe is not None:
            result["false_alarms_medium_or_above"] = sum(
                1 for i in self.severe if onset is None or i < onset
            )
        if onset is not None:
            after = [i for i in self.fired if i >= onset]
            result["detected"] = bool(after)
            result["delay_records"] = after[0] - onset + 1 if after else None
            result["delay_windows"] = -(-(after[0] - onset + 1) // WINDOW) if after else None
        return result


@dataclass(frozen=True)
class Binned:
    """A stream binned as the drift monitor bins it: per judged subject (feature, score,
    joint error), the reference counts, each record's bin, and which records count."""

    reference: dict[str, list[int]]
    bins: dict[str, np.ndarray]
    sizes: dict[str, int]
    keep: dict[str, np.ndarray]
    records: int


def binned(model: ScoringModel, stream: Stream) -> Binned:
    """Measured values only, as the monitor bins them (an imputed value, or one derived
    from it, is left out); the joint error of complete records, with a joint reference."""
    features = model.pipeline.frame(stream.frame)
    risk = model.risk(features.to_numpy())
    measured = measured_mask(stream.frame, list(features.columns))
    ref = model.reference
    reference = {name: h["counts"] for name, h in ref["features"].items()}
    reference[SCORE] = ref["score"]["counts"]
    bins = {
        name: bin_index(h["edges"], features[name].to_numpy())
        for name, h in ref["features"].items()
    }
    bins[SCORE] = bin_index(ref["score"]["edges"], risk)
    sizes = {name: len(h["edges"]) + 1 for name, h in ref["features"].items()}
    sizes[SCORE] = len(ref["score"]["edges"]) + 1
    keep = {name: measured[name].to_numpy() for name in ref["features"]}
    keep[SCORE] = np.ones(len(risk), dtype=bool)
    if "joint" in ref:
        found = ref["joint"]
        rows = stream.frame[found["model"]["features"]].to_numpy(dtype=float)
        errors = reconstruction_errors(found["model"], rows)
        reference[JOINT], sizes[JOINT] = found["counts"], len(found["edges"]) + 1
        keep[JOINT] = np.isfinite(errors)
        bins[JOINT] = bin_index(found["edges"], np.where(keep[JOINT], errors, 0.0))
    return Binned(reference, bins, sizes, keep, len(features))


def riskstream_drift(model: ScoringModel, stream: Stream, *, joint: bool = False) -> Events:
    """The drift monitor's verdicts, window by window. Every window judges the features,
    the score and (with a joint reference) the PCA reconstruction error in one family, as
    the monitor does; ``joint`` says which alerts this row counts: the multivariate one,
    else the per-feature and score ones."""
    b = binned(model, stream)
    reference, bins, sizes, keep = b.reference, b.bins, b.sizes, b.keep
    thresholds, was, fired, severe = DriftThresholds(), frozenset[str](), [], []
    for start in range(0, b.records - WINDOW + 1, WINDOW):
        sl = slice(start, start + WINDOW)
        current = {
            name: np.bincount(b[sl][keep[name][sl]], minlength=sizes[name])
            for name, b in bins.items()
        }
        verdicts = drift_verdicts(reference, current, thresholds, was) or []
        now = frozenset(v.feature for v in verdicts if v.drifting)
        entered = {f for f in now - was if (f == JOINT) == joint}
        if entered:
            fired.append(start + WINDOW - 1)  # the window closes at its last record
            if any(v.severity in SEVERE for v in verdicts if v.feature in entered):
                severe.append(start + WINDOW - 1)
        was = now
    return Events(fired, severe)


def riskstream_sequential(model: ScoringModel, stream: Stream) -> Events:
    """The sequential test (``models/monitoring/sequential.py``) on sub-windows of
    ``SUB_WINDOW`` records: each feature's and the score's CUSUMs (against the reference and
    against the version's first values) and trend test (``trend.py``) over the same binned
    values the windows count; an alarm at the end of the sub-window that raised it."""
    b = binned(model, stream)
    references = {
        name: PitReference.of(counts) for name, counts in b.reference.items() if name != JOINT
    }
    states = {name: SubjectState() for name in references}
    fired, severe = [], []
    for start in range(0, b.records - SUB_WINDOW + 1, SUB_WINDOW):
        sl = slice(start, start + SUB_WINDOW)
        raised = []
        for name, reference in references.items():
            if reference is None:
                continue
            values = b.bins[name][sl][b.keep[name][sl]]
            step = subject_step(states[name], reference, len(values), reference.pit_sum(values))
            states[name] = step.state
            if step.severity is not None:
                raised.append(step.severity)
        if raised:
            fired.append(start + SUB_WINDOW - 1)
            if any(severity in SEVERE for severity in raised):
                severe.append(start + SUB_WINDOW - 1)
    return Events(fired, severe)


def riskstream_performance(
    model: ScoringModel, validation: dict[str, float], stream: Stream
) -> Events:
    """Performance windows and ADWIN on the error stream, as the performance monitor runs
    them (every label arrives: the simulator's outcomes)."""
    features = model.pipeline.frame(stream.frame)
    risk = model.risk(features.to_numpy())
    predicted = (risk >= model.threshold).astype(int)
    thresholds = PerformanceThresholds({"accuracy": 0.72, "roc_auc": 0.80, "f1": 0.65})
    fired: list[int] = []
    was: frozenset[str] = frozenset()
    detector = ErrorRateDetector()
    for start in range(0, len(features) - WINDOW + 1, WINDOW):
        sl = slice(start, start + WINDOW)
        outcomes = [
            Outcome(int(y), float(r), int(p))
            for y, r, p in zip(stream.outcome[sl], risk[sl], predicted[sl], strict=True)
        ]
        metrics = window_metrics(performance_fields(outcomes))
        conditions = performance_conditions(metrics, validation, thresholds, was)
        now = frozenset(c.name for c in conditions if c.breached)
        shifts = detector.update(int(o.predicted != o.label) for o in outcomes)
        if now - was or any(s.status == "FIRING" for s in shifts):
            fired.append(start + WINDOW - 1)
        was = now
    return Events(fired)


def river_detector(
    make: Any, stream: Stream, features: list[str], limit: int | None, scale: pd.DataFrame
) -> Events:
    """One river detector per feature, fed record by record with the feature standardised by
    the training data (PageHinkley's default threshold assumes unit scale); a detection on
    any feature is a detection of the stream."""
    frame = stream.frame[features]
    if limit is not None:
        frame = frame.iloc[:limit]
    frame = ((frame - scale.loc["mean", features]) / scale.loc["std", features]).fillna(0.0)
    fired = set()
    for name in features:
        detector = make()
        for i, value in enumerate(frame[name].to_numpy(dtype=float).tolist()):
            detector.update(value)
            if detector.drift_detected:
                fired.add(i)
    return Events(sorted(fired))


def always_fires(stream: Stream) -> Events:
    return Events(list(range(WINDOW - 1, len(stream.frame), WINDOW)))


def measure(echo: Echo, *, scale: float) -> dict[str, Any]:
    model, validation = champion()
    raw, _ = data.load(data.TRAIN_FILE)
    standard = raw[list(RAW_FEATURES)].agg(["mean", "std"])
    results: dict[str, Any] = {"window_records": WINDOW, "streams": {}}
    simulator = PimaModel.fit()
    for stream in streams(simulator, scale):
        row: dict[str, Any] = {"records": len(stream.frame), "onset": stream.onset}
        clean = stream.onset is None
        kswin_limit = int(50_000 * scale) if clean else None
        judge = stream.champion or model
        detectors: list[tuple[str, Any]] = [
            ("riskstream drift monitor", lambda s=stream, m=judge: riskstream_drift(m, s)),
            (
                "riskstream sequential (CUSUMs + trend)",
                lambda s=stream, m=judge: riskstream_sequential(m, s),
            ),
            (
                "riskstream multivariate (PCA)",
                lambda s=stream, m=judge: riskstream_drift(m, s, joint=True),
            ),
            (
                "riskstream performance monitor",
                lambda s=stream: riskstream_performance(model, validation, s),
            ),
            (
                "river ADWIN per feature",
                lambda s=stream: river_detector(drift.ADWIN, s, list(RAW_FEATURES), None, standard),
            ),
            (
                "river PageHinkley per feature",
                lambda s=stream: river_detector(
                    drift.PageHinkley, s, list(RAW_FEATURES), None, standard
                ),
            ),
            (
                "river KSWIN on glucose",
                lambda s=stream, limit=kswin_limit: river_detector(
                    lambda: drift.KSWIN(seed=1), s, ["glucose"], limit, standard
                ),
            ),
            ("always fires", lambda s=stream: always_fires(s)),
        ]
        if stream.former is not None:
            detectors.insert(
                1,
                (
                    "riskstream drift monitor, training-set reference (before)",
                    lambda s=stream, m=stream.former: riskstream_drift(m, s),
                ),
            )
            detectors = [d for d in detectors if d[0] != "riskstream performance monitor"]
        for name, run in detectors:
            began = time.perf_counter()
            events = run()
            summary = events.summary(
                stream
                if not (clean and name.startswith("river KSWIN"))
                else Stream(stream.name, stream.frame.iloc[:kswin_limit], stream.outcome, None),
                time.perf_counter() - began,
            )
            row[name] = summary
            echo(f"detection: {stream.name}: {name}: {summary}")
        results["streams"][stream.name] = row
        if stream.name == "abrupt 0.5 sd glucose":
            results["onset_phases"] = onset_phases(model, simulator, stream, standard)
            echo(f"detection: onset phases: {results['onset_phases']}")
        if stream.name == GRADUAL:
            results["gradual_draws"] = gradual_draws(model, simulator, stream, standard)
            echo(f"detection: gradual draws: {results['gradual_draws']}")
    return results


def gradual_draws(
    model: ScoringModel, simulator: PimaModel, stream: Stream, standard: pd.DataFrame
) -> dict[str, Any]:
    """The ramp's delay on the table's stream and ``GRADUAL_SEEDS`` more draws of it, each
    only as long as its onset needs: one draw is called after 2,000-3,000 records by both
    the trend test and ADWIN, so the row compares six."""
    onset = stream.onset or 0
    delays: dict[str, list[int | None]] = {"sequential": [], "adwin": []}
    for seed in (STREAM_SEED, *GRADUAL_SEEDS):
        batch = Simulator(simulator, gradual_ramp(onset), seed=seed).draw(onset + 8_000)
        drawn = Stream(GRADUAL, batch.frame, batch.outcome, onset)
        for name, events in (
            ("sequential", riskstream_sequential(model, drawn)),
            ("adwin", river_detector(drift.ADWIN, drawn, list(RAW_FEATURES), None, standard)),
        ):
            delays[name].append(events.summary(drawn, 0.0)["delay_records"])
    return {"seeds": [STREAM_SEED, *GRADUAL_SEEDS], **delays}


def onset_phases(
    model: ScoringModel, simulator: PimaModel, stream: Stream, standard: pd.DataFrame
) -> dict[str, Any]:
    """The abrupt shift's delay as its onset moves across 100 records (five sub-windows,
    three of ADWIN's 32-record checks): the stream's first ``offset`` records dropped, for
    10 offsets, on the table's stream and on ``PHASE_SEEDS`` more draws of it. The table's
    onset falls on a sub-window's start; live, where sub-windows are cut by time, it falls
    anywhere. One draw's shift can be easy or hard (60-240 records for both detectors), so
    the row compares all 40."""
    offsets = list(range(0, 100, 10))
    delays: dict[str, list[int | None]] = {"sequential": [], "adwin": []}
    draws = [stream] + [
        abrupt(simulator, stream.onset or 0, len(stream.frame), seed) for seed in PHASE_SEEDS
    ]
    for drawn in draws:
        for offset in offsets:
            moved = Stream(
                drawn.name,
                drawn.frame.iloc[offset:].reset_index(drop=True),
                drawn.outcome[offset:],
                None if drawn.onset is None else drawn.onset - offset,
            )
            for name, events in (
                ("sequential", riskstream_sequential(model, moved)),
                ("adwin", river_detector(drift.ADWIN, moved, list(RAW_FEATURES), None, standard)),
            ):
                delays[name].append(events.summary(moved, 0.0)["delay_records"])
    return {"offsets": offsets, "seeds": [STREAM_SEED, *PHASE_SEEDS], **delays}


def abrupt(simulator: PimaModel, onset: int, records: int, seed: int) -> Stream:
    """The abrupt 0.5 sd glucose stream, drawn with ``seed``: only as long as its onset
    needs (the phases judge the shift, not the clean control)."""
    batch = Simulator(simulator, abrupt_shift(onset), seed=seed).draw(min(records, onset + 2_500))
    return Stream("abrupt 0.5 sd glucose", batch.frame, batch.outcome, onset)
