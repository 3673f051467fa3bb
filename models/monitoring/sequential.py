"""Sequential drift detection over sub-windows: a two-sided CUSUM on each feature's mean
probability-integral transform (PIT) against the version's reference. Pure functions.

A window's verdict waits for the window to close (1,000 records in the benchmark), so an
abrupt shift is called 1,500 records after its onset; river's ADWIN, reading record by
record, calls it after about 120. Here each sub-window (a fiftieth of a window) is
reduced to two integers per feature, the count of measured values and the sum of their PIT
scores (``pit_sum``), which add up across partitions, workers and restarts as the window's
counts do. A CUSUM over the sub-windows' standardized sums accumulates the evidence:

- **The score.** A value in reference bin ``b`` scores the bin's mid-CDF, ``u_b``; under the
  reference ``u`` has mean ``mu`` and variance ``var`` (both from the reference's bin
  shares), whatever the feature's own scale, skew or integer steps. A sub-window of ``n``
  values with PIT mean ``m`` gives ``z = (m - mu) / sqrt(var / n + var / n_ref)``: the
  reference's own sampling error is in the denominator, as in a two-sample test.
- **The test.** ``k`` and ``h`` are stated per ``unit`` (100) values, and a sub-window of
  ``n`` values weighs ``w = n / unit``: ``up = max(0, up + z * sqrt(w) - k * w)`` and
  ``down = max(0, down - z * sqrt(w) - k * w)``, each capped at ``h``. That is a CUSUM on
  the values' sum, so it means the same per value whatever the sub-window's size, and a
  finer grid only lets it look more often. An alarm when either side reaches ``h``, once
  per incident (until both are back at 0). On the benchmark's abrupt shift, sub-windows of
  100 made the delay depend on where in one the onset fell (100-190 records over 10
  phases, against ADWIN's 108-134, which checks every 32); sub-windows of 20 give 110-120.
  Over four draws of that stream, 40 onsets in all, the median is 110 records (ADWIN 123).
- **False alarms.** Siegmund's approximation of the in-control run length, for steps of
  20 values: the reference test (``k`` 2, ``h`` 4) crosses ``h`` about 0.02 times per
  1M clean records over 11 subjects and 2 sides; the change test (``k`` 1.5, ``h`` 3.2)
  about 14 times, and the size gate stops most of those (long runs of a small mean):
  2 and 4 LOW alarms in two simulated 1M clean streams, where ADWIN raises 1 and 3. A run
  also needs ``min_run`` (100) values before it may alarm: on a grid of 20, a CUSUM tuned
  for larger shifts (k 3) crossed ``h`` on a few extreme sub-windows, and a 40-value run
  that crosses reads as a HIGH shift (two MEDIUM+ false alarms in 1M records); read over
  100 values it is gated.
- **The size gate.** An alarm also needs the run's effect to reach the window's LOW band:
  the run's mean PIT shift (one standard error below its estimate), read as the normal
  location shift ``delta`` it implies
  (``sqrt(2) * Phi^-1(0.5 + shift)``), whose PSI over deciles is about ``delta^2``. That
  severity is the alert's. A real but small difference (the benchmark's real Pima rows
  against the bootstrap reference, Pima.tr2: pedigree's z near 1.8 in every 100 values)
  builds runs that seldom alarm, and then LOW: the same rule as the window's PSI >= 0.1
  beside its KS test.
- **Two references.** The training reference is small (a few hundred rows), and its own
  sampling error is in every sub-window's ``z``: a 0.5 sd shift's first 100 values give z
  near 4, short of an alarm. So each subject also runs a second CUSUM, the
  *change* test, against the version's own first ``BASELINE_VALUES`` live values (its
  baseline, summed from the same sub-window counts): what ADWIN compares too, the stream
  against its own past. Its error is a twentieth of 100 values', so a tighter test
  (``CHANGE``: k 1.5, h 3.2) calls the same shift after about 100 values, with the same size
  gate read against the baseline. It cannot see a drift that was there when the version
  started serving; the reference test and the windows still do. And when such a drift
  ends, the values move off the baseline but back onto the reference: a change test's
  alarm also needs the run off the reference (``away_from_reference``).
- **A third test for ramps.** Both CUSUMs gate on the LOW band, so a slow ramp is called
  only when it reaches it. The trend test (``trend.py``) calls it sooner, as a NOTICE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy.special import ndtri  # norm.ppf; scipy.stats costs a worker 46 MiB more

from riskstream.models.monitoring.pit import PIT_SCALE, PitReference
from riskstream.models.monitoring.statistics import DriftThresholds
from riskstream.models.monitoring.trend import (
    TREND,
    TrendState,
    TrendStep,
    TrendThresholds,
    trend_step,
)
from riskstream.schemas.events import Severity

SHIFT_MARGIN = 1.0  # standard errors taken off a run's shift before its size is read


@dataclass(frozen=True)
class SequentialThresholds:
    allowance: float = 2.0  # k: drift per unit of values, in standard units, the CUSUM ignores
    threshold: float = 4.0  # h
    min_sample: int = 5  # a sub-window with fewer measured values leaves the state as it is
    unit: int = 100  # values k and h are stated for: a sub-window of n counts as n / unit
    min_run: int = 100  # values a run needs before its size is read and it may alarm


DEFAULT = SequentialThresholds()
# the change test: on two streams of 1M clean records 2 and 4 LOW false alarms (ADWIN: 1 and
# 3), on the real Pima rows (with the reference test) 4 LOW, no MEDIUM+ on any; h 3.6 gave
# 0, 1 and 4, but a median delay over onset phases of 125-130 records, not 110 (ADWIN 123)
CHANGE = SequentialThresholds(allowance=1.5, threshold=3.2)
BASELINE_VALUES = 2_000  # a version's first measured values per subject: its baseline
BANDS = DriftThresholds()  # the window's severity bands


@dataclass(frozen=True)
class Side:
    """One side of one feature's CUSUM: its statistic and the run that built it."""

    value: float = 0.0
    run_n: int = 0  # values in the sub-windows since the statistic last stood at 0
    run_pit: int = 0  # and their PIT sum


@dataclass(frozen=True)
class CusumState:
    up: Side = Side()
    down: Side = Side()
    alarmed: bool = False  # an alarm was raised and no sub-window has brought both to 0

    def leading(self) -> Side:
        """The side further from 0: the one an alarm comes from."""
        return max((self.up, self.down), key=lambda s: s.value)


@dataclass(frozen=True)
class Step:
    state: CusumState
    z: float | None  # None: too few values, nothing changed
    alarm: Severity | None  # the severity of an alarm raised by this sub-window


def _side(side: Side, increment: float, n: int, pit: int, cap: float) -> Side:
    value = min(max(0.0, side.value + increment), cap)
    if value == 0.0:
        return Side()
    return Side(value, side.run_n + n, side.run_pit + pit)


def effect_severity(
    reference: PitReference,
    n: int,
    pit_sum: int,
    bands: DriftThresholds,
    margin: float = SHIFT_MARGIN,
) -> Severity | None:
    """The window bands' severity of a run's mean PIT shift, read as a normal location
    shift of ``delta`` sd whose decile PSI is about ``delta ** 2``. The shift is taken
    ``SHIFT_MARGIN`` standard errors (the run's and the reference's sampling error) below
    its estimate: a run of 100-200 values is short. On the benchmark's real Pima rows, where
    small true differences from the bootstrap reference meet that noise, the point estimate
    made 15 alarms, 2 of them MEDIUM; one error off, 2 LOW, with the 0.5 sd shift still
    called after 200 records (1.96 errors off: no alarm there, but the shift after 300)."""
    error = math.sqrt(reference.variance / n + reference.variance / reference.n)
    shift = max(0.0, abs(pit_sum / PIT_SCALE / n - reference.mean) - margin * error)
    delta = math.sqrt(2) * float(ndtri(min(0.5 + shift, 1 - 1e-9)))
    return bands.severity(delta**2)


def cusum_step(
    state: CusumState,
    reference: PitReference,
    n: int,
    pit_sum: int,
    thresholds: SequentialThresholds = DEFAULT,
    bands: DriftThresholds = BANDS,
) -> Step:
    """One sub-window of ``n`` measured values with PIT sum ``pit_sum`` into ``state``."""
    if n < thresholds.min_sample:
        return Step(state, None, None)
    z = reference.z(n, pit_sum)
    weight = n / thresholds.unit  # sums, not means, add up: per value the same test at any n
    evidence, allowance = z * math.sqrt(weight), thresholds.allowance * weight
    # capped at h: an incident's statistic does not grow without bound, so once it is over
    # the statistic is back at 0 (and the next incident can alarm) within h / k units
    cap = thresholds.threshold
    up = _side(state.up, evidence - allowance, n, pit_sum, cap)
    down = _side(state.down, -evidence - allowance, n, pit_sum, cap)
    alarm = None
    if not state.alarmed:
        for side in (up, down):
            if side.value >= thresholds.threshold and side.run_n >= thresholds.min_run:
                severity = effect_severity(reference, side.run_n, side.run_pit, bands)
                if severity is not None and (alarm is None or severity.rank > alarm.rank):
                    alarm = severity
    quiet = up.value == 0.0 and down.value == 0.0
    alarmed = (state.alarmed or alarm is not None) and not quiet
    return Step(replace(state, up=up, down=down, alarmed=alarmed), z, alarm)


@dataclass(frozen=True)
class SubjectState:
    """One subject's sequential state: the CUSUM against the reference, the version's
    baseline while it fills, the CUSUM against the baseline once it is full, and the trend
    test (its own, longer baseline)."""

    reference: CusumState = CusumState()
    baseline_n: int = 0
    baseline_pit: int = 0
    change: CusumState = CusumState()
    trend: TrendState = TrendState()

    def baseline(self, reference: PitReference) -> PitReference | None:
        """The baseline as a reference (the reference's bins and spread, the baseline's
        mean and size); None while it fills."""
        if self.baseline_n < BASELINE_VALUES:
            return None
        mean = self.baseline_pit / PIT_SCALE / self.baseline_n
        return replace(reference, mean=mean, n=self.baseline_n)


@dataclass(frozen=True)
class SubjectStep:
    state: SubjectState
    alarm: Step | None  # the step that raised this sub-window's alarm, if one did
    baseline: PitReference | None  # what that alarm was measured against: the baseline,
    # or None for the reference
    trend: TrendStep | None = None  # the trend test's step, when it alarmed and no CUSUM did

    @property
    def severity(self) -> Severity | None:
        """The severity of this sub-window's alarm, if it raised one."""
        if self.alarm is not None:
            return self.alarm.alarm
        return Severity.NOTICE if self.trend is not None else None


def away_from_reference(step: Step, reference: PitReference, bands: DriftThresholds) -> Step:
    """A change test's alarm only for a run that is off the reference too, read at its
    point estimate, and at the lesser of the two severities. A version that began to serve
    in a drift has it in its baseline; the drift's end is a change, but back toward the
    reference, and no drift to alert on (the windows resolve it)."""
    if step.alarm is None:
        return step
    side = step.state.leading()
    off = effect_severity(reference, side.run_n, side.run_pit, bands, margin=0.0)
    if off is None:
        return replace(step, alarm=None, state=replace(step.state, alarmed=False))
    return replace(step, alarm=min(step.alarm, off, key=lambda s: s.rank))


def subject_step(
    state: SubjectState,
    reference: PitReference,
    n: int,
    pit_sum: int,
    bands: DriftThresholds = BANDS,
    thresholds: SequentialThresholds = DEFAULT,
    change: SequentialThresholds = CHANGE,
    trend: TrendThresholds = TREND,
) -> SubjectStep:
    """One sub-window into the three tests. A sub-window that fills the baseline is part of
    it, so the change test starts with the next one. When several alarm, the most severe
    wins; the trend test's NOTICE only when neither CUSUM alarms."""
    against_reference = cusum_step(state.reference, reference, n, pit_sum, thresholds, bands)
    trending = trend_step(state.trend, reference, n, pit_sum, trend)
    baseline = state.baseline(reference)
    if baseline is None:
        filled = replace(
            state,
            reference=against_reference.state,
            baseline_n=state.baseline_n + n,
            baseline_pit=state.baseline_pit + pit_sum,
            trend=trending.state,
        )
        if against_reference.alarm is not None:
            return SubjectStep(filled, against_reference, None)
        return SubjectStep(filled, None, None, trending if trending.alarm else None)
    against_baseline = away_from_reference(
        cusum_step(state.change, baseline, n, pit_sum, change, bands), reference, bands
    )
    moved = replace(
        state,
        reference=against_reference.state,
        change=against_baseline.state,
        trend=trending.state,
    )
    ranked = [
        (step.alarm.rank, step, base)
        for step, base in ((against_reference, None), (against_baseline, baseline))
        if step.alarm is not None
    ]
    if not ranked:
        return SubjectStep(moved, None, None, trending if trending.alarm else None)
    _, step, base = max(ranked, key=lambda r: r[0])
    return SubjectStep(moved, step, base)
