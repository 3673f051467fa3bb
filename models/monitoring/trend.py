"""The trend test: a slow drift (a ramp) called while it is still too small for the window's
severity bands, as a NOTICE. Pure functions.

A feature that drifts 1 sd over 20 windows moves 0.15 sd in the first 3,000 values, PSI about
0.02: a fifth of the LOW band. The CUSUMs of ``sequential.py`` gate their alarms on that
band, so they call such a ramp only when it reaches it (about 6,500 values in), where
river's ADWIN, which has no bands, calls it after about 3,000. This test is built for the
ramp and grades what it finds below LOW:

- **Against the version's own past.** A subject's first ``baseline`` (20,000) measured
  values fix its baseline PIT mean ``mu0``, as ADWIN compares the stream with its own long
  past. The reference (a few hundred training rows) is too small a yardstick for 0.15 sd.
- **A linear trend from an unknown onset.** Every ``spacing`` (1,000) values an anchor is
  set; the last ``anchors`` (7) are kept, so onsets up to 7,000 values back are tried. For
  an anchor at ``tau`` each sub-window adds ``w * dev`` to ``s1``, ``w * w * n`` to ``q``,
  where ``w`` is the sub-window's middle, in values after ``tau``, and ``dev`` its values'
  standardized PIT deviations from ``mu0`` summed. ``|s1| / sqrt(q)`` is the generalized
  likelihood ratio's z for a ramp starting at ``tau``; the largest over the anchors is the
  statistic. It weighs the latest values most, as a ramp does: offline on 6 draws of the
  benchmark's ramp it was called after a median of 2,669 values, a CUSUM for small shifts
  with about as many false alarms (k 0.5, h 11-11.5 per 100 values) after 2,909-2,969.
- **False alarms.** The baseline's own error is not in the denominator: on the streams the
  threshold was set on it only slowed the ramp's call (the same false alarms at a higher
  threshold). So the rate is measured, not derived: with ``threshold`` 4.6, 0 and 1 alarms
  in two simulated 1M clean streams (ADWIN 1 and 3), 1 in 200,000 real Pima rows, none in
  the 50 windows after a promotion; the ramp of the benchmark's table called after 2,960
  records (ADWIN 3,036; BENCHMARKS.md).
- **Once per incident.** An alarm, then none until the statistic falls under ``rearm``.
- **Only away from the reference.** When the baseline itself is off the reference by more
  than both their sampling errors (a version that began to serve in a drift), a trend back
  toward the reference is the drift ending, not a new one, and raises nothing.

The state is a handful of sums per subject, a pure function of the sub-windows' counts in
event-time order, so it is shared and restart-safe like the CUSUMs'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from riskstream.models.monitoring.pit import PIT_SCALE, PitReference


@dataclass(frozen=True)
class TrendThresholds:
    baseline: int = 20_000  # a version's first measured values per subject: its baseline
    spacing: int = 1_000  # values between onset anchors
    anchors: int = 7  # kept: onsets up to anchors x spacing values back are tried
    threshold: float = 4.6  # the statistic's alarm level (a z)
    rearm: float = 2.0  # the statistic under which a new incident may alarm
    min_sample: int = 5  # a sub-window with fewer measured values leaves the state as it is


TREND = TrendThresholds()


@dataclass(frozen=True)
class Anchor:
    """One onset tried: where it is (in values since the baseline filled) and its sums."""

    at: float
    s1: float = 0.0  # sum of w * dev
    q: float = 0.0  # sum of w * w * n

    def z(self) -> float:
        return abs(self.s1) / math.sqrt(self.q) if self.q > 0 else 0.0

    def shift(self, now: float) -> float:
        """The fitted ramp's shift at ``now``, in the reference's standard units of PIT."""
        return self.s1 / self.q * (now - self.at) if self.q > 0 else 0.0


@dataclass(frozen=True)
class TrendState:
    baseline_n: int = 0
    baseline_pit: int = 0
    clock: float = 0.0  # measured values judged since the baseline filled
    anchors: tuple[Anchor, ...] = ()
    alarmed: bool = False

    def encode(self) -> str:
        """One string for the shared state (``repr`` floats: every worker reads back the
        same numbers it would have computed)."""
        head = [str(self.baseline_n), str(self.baseline_pit), repr(self.clock)]
        head += ["1" if self.alarmed else "0"]
        return " ".join(head + [f"{a.at!r},{a.s1!r},{a.q!r}" for a in self.anchors])

    @classmethod
    def decode(cls, text: str) -> TrendState:
        if not text:
            return cls()
        n, pit, clock, alarmed, *anchors = text.split(" ")
        parsed = tuple(Anchor(*(float(x) for x in a.split(","))) for a in anchors)
        return cls(int(n), int(pit), float(clock), parsed, alarmed == "1")


@dataclass(frozen=True)
class TrendStep:
    state: TrendState
    statistic: float  # the largest anchor's z after this sub-window (0 while filling)
    alarm: Anchor | None  # the anchor whose trend raised an alarm here


def baseline_offset(state: TrendState, reference: PitReference) -> float:
    """How far the baseline's mean is off the reference's, in standard units, less both
    their sampling errors (0 when within them)."""
    if state.baseline_n == 0:
        return 0.0
    sd = math.sqrt(reference.variance)
    offset = (state.baseline_pit / PIT_SCALE / state.baseline_n - reference.mean) / sd
    noise = math.sqrt(1 / reference.n + 1 / state.baseline_n)
    return math.copysign(max(0.0, abs(offset) - noise), offset)


def away_from_reference(offset: float, shift: float) -> bool:
    """A shift that leaves the baseline (``offset`` off the reference) further off it."""
    return abs(offset + shift) > abs(offset)


def trend_step(
    state: TrendState,
    reference: PitReference,
    n: int,
    pit_sum: int,
    thresholds: TrendThresholds = TREND,
) -> TrendStep:
    """One sub-window of ``n`` measured values with PIT sum ``pit_sum`` into ``state``. The
    sub-window that fills the baseline is part of it; the test starts with the next one."""
    if n < thresholds.min_sample:
        return TrendStep(state, 0.0, None)
    if state.baseline_n < thresholds.baseline:
        filled = replace(
            state, baseline_n=state.baseline_n + n, baseline_pit=state.baseline_pit + pit_sum
        )
        return TrendStep(filled, 0.0, None)
    mu0 = state.baseline_pit / PIT_SCALE / state.baseline_n
    dev = (pit_sum / PIT_SCALE - n * mu0) / math.sqrt(reference.variance)
    anchors = list(state.anchors)
    next_anchor = anchors[-1].at + thresholds.spacing if anchors else 0.0  # the newest is kept
    while next_anchor <= state.clock:
        anchors.append(Anchor(next_anchor))
        next_anchor += thresholds.spacing
    anchors = anchors[-thresholds.anchors :]
    middle = state.clock + n / 2
    moved = tuple(
        replace(a, s1=a.s1 + (middle - a.at) * dev, q=a.q + (middle - a.at) ** 2 * n)
        for a in anchors
    )
    now = state.clock + n
    offset = baseline_offset(state, reference)
    leading = max(moved, key=Anchor.z)
    statistic = leading.z()
    alarm = None
    alarmed = state.alarmed
    if alarmed and statistic < thresholds.rearm:
        alarmed = False
    elif (
        not alarmed
        and statistic >= thresholds.threshold
        and away_from_reference(offset, leading.shift(now))
    ):
        alarm, alarmed = leading, True
    moved_state = replace(state, clock=now, anchors=moved, alarmed=alarmed)
    return TrendStep(moved_state, statistic, alarm)
