"""A generative model of clinic traffic, fitted on the Pima data, with drift scenarios.

Per outcome class, a Gaussian copula fitted on *measured* values only: each feature keeps its
empirical marginal of the values that were measured (so integer fields, ranges and skew stay
realistic, and no patient gets the training median as a measurement), and the features keep
the rank correlations of the complete rows. Missingness is drawn separately, at each
feature's training rate times ``baseline_missing`` (0: complete records), the way a clinic
leaves a lab value out. The
outcome is drawn first, from the class prior, then the features from that class's copula, so
ground truth comes from the same model. Scenarios then change the measurements
(``covariate-shift`` adds to a feature after the outcome was drawn, as a lab offset would: the
old P(outcome | features) no longer holds), the population (``population-shift`` selects
patients by their features alone, a covariate shift in the strict sense: P(outcome |
features) is unchanged, the regime in which performance can be estimated from calibrated
scores), one clinic's measurements (``source-drift``: a shift in one source of
``--sources N``), missing values, volume, the outcome's dependence on the features
(concept drift), or how the features move together (``correlation-change``: each scenario
feature's rank is mirrored within its outcome class, so its correlations with the other
features change sign while every marginal, and its relation to the outcome, stay as they
were: a change only a multivariate test sees).
Everything is seeded: the same seed gives the same stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from riskstream.models import data
from riskstream.schemas.events import PatientRecord
from riskstream.schemas.patient_record import IMPUTABLE, RAW_FEATURES

POPULATION_POOL = 5  # candidates per record a population shift selects
INTEGER_FEATURES = ("pregnancies", "glucose", "blood_pressure", "skin_thickness", "age")
SCENARIOS = (
    "none",
    "covariate-shift",
    "population-shift",
    "source-drift",
    "concept-drift",
    "missing-surge",
    "volume-drop",
    "label-delay",
    "drift-demo",
    "correlation-change",
)
# the features a scenario changes when none are named: BMI's correlations are Pima's strongest
# (0.66 with skin thickness), so mirroring it is a change a window of 1,000 records shows
DEFAULT_FEATURES = {"correlation-change": ("bmi",)}


@dataclass(frozen=True)
class ClassCopula:
    sorted_values: dict[str, np.ndarray]
    correlation: np.ndarray


@dataclass(frozen=True)
class PimaModel:
    prior: float  # P(outcome = 1)
    classes: dict[int, ClassCopula]
    sd: dict[str, float]
    missing_rates: dict[str, float] = field(default_factory=dict)  # training share per feature

    @staticmethod
    def fit(frame: pd.DataFrame | None = None, outcome: pd.Series | None = None) -> PimaModel:
        if frame is None or outcome is None:
            frame, outcome = data.load(data.TRAIN_FILE)
        classes = {}
        for label in (0, 1):
            rows = frame[outcome.to_numpy() == label]
            complete = rows.dropna()
            ranks = complete.rank(method="average") / (len(complete) + 1)
            scores = norm.ppf(ranks.to_numpy())
            correlation = np.corrcoef(scores, rowvar=False)
            classes[label] = ClassCopula(
                {name: np.sort(rows[name].dropna().to_numpy(dtype=float)) for name in RAW_FEATURES},
                correlation,
            )
        return PimaModel(
            float(outcome.mean()),
            classes,
            {n: float(frame[n].std()) for n in RAW_FEATURES},
            {n: float(frame[n].isna().mean()) for n in IMPUTABLE},
        )

    def sample(self, n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
        outcome = (rng.random(n) < self.prior).astype(int)
        out = pd.DataFrame(index=range(n), columns=list(RAW_FEATURES), dtype=float)
        for label, copula in self.classes.items():
            idx = np.flatnonzero(outcome == label)
            if idx.size == 0:
                continue
            z = rng.multivariate_normal(
                np.zeros(len(RAW_FEATURES)), copula.correlation, size=idx.size
            )
            u = norm.cdf(z)
            for j, name in enumerate(RAW_FEATURES):
                values = copula.sorted_values[name]
                positions = u[:, j] * (len(values) - 1)
                out.loc[idx, name] = np.interp(positions, np.arange(len(values)), values)
        for name in INTEGER_FEATURES:
            out[name] = out[name].round()
        return out, outcome


@dataclass(frozen=True)
class Scenario:
    """What changes, from which record on. Sizes are in standard deviations of the feature."""

    name: str = "none"
    start: int = 0  # index of the first drifted record
    features: tuple[str, ...] = ("glucose",)
    size_sd: float = 1.0
    ramp: int = 0  # 0: abrupt; else records over which a shift grows to full size
    missing_rate: float = 0.5
    volume_factor: float = 0.25
    label_delay_s: float = 0.0  # mean of the exponential label delay
    concept: bool = False
    source: int = 0  # source-drift: the index of the clinic whose measurements shift

    def __post_init__(self) -> None:
        problems = [
            text
            for bad, text in (
                (self.start < 0, "the start index must be >= 0"),
                (self.ramp < 0, "the ramp must be >= 0 records"),
                (not 0.0 <= self.missing_rate <= 1.0, "the missing rate must be within [0, 1]"),
                (self.volume_factor <= 0.0, "the volume factor must be > 0"),
                (self.label_delay_s < 0.0, "the label delay must be >= 0 s"),
            )
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @staticmethod
    def named(name: str, start: int = 0, **overrides: Any) -> Scenario:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
        if not overrides.get("features"):
            overrides = {**overrides, "features": DEFAULT_FEATURES.get(name, ("glucose",))}
        if name == "drift-demo":  # an abrupt covariate shift plus a concept change
            return Scenario(name, start, concept=True, **overrides)
        return Scenario(name, start, concept=name == "concept-drift", **overrides)


def _concept_outcome(
    frame: pd.DataFrame, sd: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """After a concept change, diabetes follows BMI and age, no longer glucose: a rule a
    retrained model can learn and the old champion gets wrong."""
    z = ((frame["bmi"] - 32.0) / sd["bmi"] + (frame["age"] - 33.0) / sd["age"]).to_numpy()
    return (rng.random(len(frame)) < 1 / (1 + np.exp(-(2.2 * z - 0.6)))).astype(int)


@dataclass
class SimulatedRecord:
    record: PatientRecord
    outcome: int
    label_delay_s: float
    offset_s: float  # when to publish, in seconds from the start of the stream


@dataclass
class SimulatedBatch:
    frame: pd.DataFrame  # features, one row per record
    outcome: np.ndarray
    missing: np.ndarray  # (records, IMPUTABLE) booleans
    offsets: np.ndarray  # publish times, seconds from the start
    delays: np.ndarray  # label delays, seconds
    rng: np.random.Generator  # drawn from after the columns: ids come from it
    sources: np.ndarray  # the clinic of each record


@dataclass
class Simulator:
    model: PimaModel
    scenario: Scenario = field(default_factory=Scenario)
    seed: int = 0
    rate: float = 50.0  # records per second before any volume drop
    source: str = "simulator"
    run: str = ""  # distinguishes the request ids of runs with the same seed
    baseline_missing: float = 1.0  # x each feature's training missing rate; 0: complete records
    sources: int = 1  # clinics: 1 names every record ``source``, else clinic-0 ... clinic-<N-1>

    def source_names(self) -> list[str]:
        if self.sources <= 1:
            return [self.source]
        return [f"clinic-{k}" for k in range(self.sources)]

    def draw(self, count: int) -> SimulatedBatch:
        """The whole stream as columns (vectorised, for benchmarks and analyses); ``stream``
        turns it into records."""
        rng = np.random.default_rng(self.seed)
        frame, outcome = self.model.sample(count, rng)
        sc = self.scenario
        index = np.arange(count)
        after = index >= sc.start
        names = self.source_names()
        # from a generator of its own: a seed's features and ids do not depend on the spread
        which = np.random.default_rng([self.seed, 2]).integers(0, len(names), count)
        if sc.name == "source-drift":
            if not 0 <= sc.source < len(names):
                raise ValueError(f"source-drift: source {sc.source} of {len(names)}: use --sources")
            after = after & (which == sc.source)
        if sc.name in ("covariate-shift", "drift-demo", "source-drift"):
            weight = np.where(after, 1.0, 0.0)
            if sc.ramp:
                weight = np.clip((index - sc.start + 1) / sc.ramp, 0, 1) * after
            for name in sc.features:
                frame[name] = frame[name] + weight * sc.size_sd * self.model.sd[name]
                if name in INTEGER_FEATURES:
                    frame[name] = frame[name].round()
        if sc.name == "correlation-change" and after.any():
            frame = self._mirror(frame, outcome, after)
        if sc.name == "population-shift" and after.any():
            frame, outcome = self._select_population(frame, outcome, after, rng)
        if sc.concept and after.any():
            outcome = outcome.copy()
            outcome[after] = _concept_outcome(frame[after], self.model.sd, rng)
        missing = self._baseline_missing(count)
        if sc.name == "missing-surge":
            surge = (rng.random((count, len(IMPUTABLE))) < sc.missing_rate) & after[:, None]
            missing |= surge
        gaps = np.full(count, 1.0 / self.rate)
        if sc.name == "volume-drop":
            gaps = np.where(after, gaps / sc.volume_factor, gaps)
        offsets = np.cumsum(gaps) - gaps[0]
        delays = rng.exponential(sc.label_delay_s, count) if sc.label_delay_s else np.zeros(count)
        sources = np.array(names, dtype=object)[which]
        return SimulatedBatch(frame, outcome, missing, offsets, delays, rng, sources)

    def _select_population(
        self,
        frame: pd.DataFrame,
        outcome: np.ndarray,
        after: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Replace the records from ``start`` on by patients drawn, with their outcomes, from
        a pool of five times as many, each with weight exp(size x z) where z is the sum of
        the scenario features' standard scores (exponential tilting: a normal feature's mean
        moves by ``size_sd`` sd). Selection by features alone keeps P(outcome | features)."""
        sc = self.scenario
        wanted = int(after.sum())
        pool, pool_outcome = self.model.sample(POPULATION_POOL * wanted, rng)
        z = sum(
            (pool[name] - pool[name].mean()) / self.model.sd[name] for name in sc.features
        ).to_numpy(dtype=float)
        weight = np.exp(sc.size_sd * (z - z.max()))
        chosen = rng.choice(len(pool), size=wanted, replace=False, p=weight / weight.sum())
        frame = frame.copy()
        frame.loc[after, :] = pool.iloc[chosen].to_numpy()
        outcome = outcome.copy()
        outcome[after] = pool_outcome[chosen]
        return frame, outcome

    def _mirror(self, frame: pd.DataFrame, outcome: np.ndarray, after: np.ndarray) -> pd.DataFrame:
        """The scenario features of the records from ``start`` on, each moved to the mirrored
        rank of its class's marginal (the p-quantile becomes the (1-p)-quantile): the class's
        marginal is unchanged, the feature's correlations with the others change sign."""
        frame = frame.copy()
        for label, copula in self.model.classes.items():
            rows = after & (outcome == label)
            for name in self.scenario.features:
                values = copula.sorted_values[name]
                ranks = np.arange(len(values))
                position = np.interp(frame.loc[rows, name].to_numpy(float), values, ranks)
                mirrored = np.interp(ranks[-1] - position, ranks, values)
                frame.loc[rows, name] = mirrored.round() if name in INTEGER_FEATURES else mirrored
        return frame

    def _baseline_missing(self, count: int) -> np.ndarray:
        """Which records leave each imputable feature out, at its training rate. Drawn from
        a generator of its own, so the features and ids of a seed do not depend on it."""
        rates = np.array([self.model.missing_rates.get(n, 0.0) for n in IMPUTABLE])
        rates = np.clip(rates * self.baseline_missing, 0.0, 1.0)
        rng = np.random.default_rng([self.seed, 1])
        return np.asarray(rng.random((count, len(IMPUTABLE))) < rates)

    def stream(self, count: int, start_ms: int) -> Iterator[SimulatedRecord]:
        batch = self.draw(count)
        frame, outcome, missing, offsets, delays, rng = (
            batch.frame,
            batch.outcome,
            batch.missing,
            batch.offsets,
            batch.delays,
            batch.rng,
        )
        for i in range(count):
            row = frame.iloc[i]
            record: dict[str, Any] = {
                "request_id": f"sim-{self.run or self.seed}-{i}",
                "patient_id": f"patient-{rng.integers(0, 10**9):09d}",
                "source": str(batch.sources[i]),
                "event_time": start_ms + int(offsets[i] * 1000),
                "insulin": None,
            }
            for name in RAW_FEATURES:
                value = float(row[name])
                record[name] = int(value) if name in ("pregnancies", "age") else value
            for j, name in enumerate(IMPUTABLE):
                if missing[i, j]:
                    record[name] = None
            yield SimulatedRecord(
                PatientRecord(**record), int(outcome[i]), float(delays[i]), float(offsets[i])
            )


def window_means(records: Sequence[PatientRecord], feature: str, size: int) -> list[float]:
    """Mean of a feature over consecutive blocks of ``size`` records (for checks and plots)."""
    column = [getattr(r, feature) for r in records]
    values = np.array([np.nan if v is None else v for v in column], dtype=float)
    blocks = len(values) // size
    return [float(np.nanmean(values[b * size : (b + 1) * size])) for b in range(blocks)]
