import numpy as np
import pytest

from riskstream.models.monitoring.pit import PitReference
from riskstream.models.monitoring.sequential import SubjectState, subject_step
from riskstream.models.monitoring.trend import (
    TREND,
    Anchor,
    TrendState,
    TrendThresholds,
    away_from_reference,
    baseline_offset,
    trend_step,
)
from riskstream.models.reference import bin_index, histogram, quantile_edges
from riskstream.schemas.events import Severity

TRAINING = np.random.default_rng(0).normal(size=2_000)
EDGES = quantile_edges(TRAINING)
REFERENCE = PitReference.of(histogram(EDGES, TRAINING))
SUB = 20
ONSET = 25_000  # after the 20,000 values of the baseline


def _ramp(seed: int, size_sd: float = 1.0, over: int = 20_000, n: int = 40_000) -> np.ndarray:
    """Clean values, then a linear ramp of ``size_sd`` over ``over`` values from ONSET."""
    values = np.random.default_rng(seed).normal(size=n)
    values[ONSET:] += size_sd * np.minimum(np.arange(n - ONSET) + 1, over) / over
    return values


def _alarms(stream: np.ndarray, thresholds: TrendThresholds = TREND) -> list[int]:
    """Sub-window ends (value indices) where the trend test alarmed."""
    assert REFERENCE is not None
    state, ends = TrendState(), []
    for start in range(0, len(stream) - SUB + 1, SUB):
        bins = bin_index(EDGES, stream[start : start + SUB])
        step = trend_step(state, REFERENCE, len(bins), REFERENCE.pit_sum(bins), thresholds)
        state = step.state
        if step.alarm is not None:
            ends.append(start + SUB - 1)
    return ends


def test_a_ramp_is_called_at_a_fifth_of_the_low_band_and_once() -> None:
    """1 sd over 20,000 values: 0.15 sd (PSI about 0.02) 3,000 values in. Every draw is called
    within 4,000 values, once; no draw before its onset."""
    delays = []
    for seed in range(4):
        ends = _alarms(_ramp(seed))
        assert len(ends) == 1, ends
        delays.append(ends[0] - ONSET)
    assert all(0 < d < 4_000 for d in delays), delays


def test_a_clean_stream_raises_nothing() -> None:
    assert _alarms(np.random.default_rng(9).normal(size=300_000)) == []


def test_the_test_waits_for_its_baseline_and_the_filling_subwindow_is_part_of_it() -> None:
    assert REFERENCE is not None
    small = TrendThresholds(baseline=100)
    state = TrendState()
    for _ in range(5):  # 5 x 20 values fill a baseline of 100
        step = trend_step(state, REFERENCE, 20, 20 * 5_000, small)
        state = step.state
        assert step.statistic == 0.0 and step.alarm is None and state.anchors == ()
    assert (state.baseline_n, state.baseline_pit) == (100, 500_000)
    state = trend_step(state, REFERENCE, 20, 20 * 5_000, small).state
    assert state.clock == 20.0 and [a.at for a in state.anchors] == [0.0]
    # too few measured values: nothing moves
    assert trend_step(state, REFERENCE, 4, 0, small).state == state


def test_anchors_are_set_every_spacing_values_and_only_the_last_ones_kept() -> None:
    assert REFERENCE is not None
    thresholds = TrendThresholds(baseline=20, spacing=100, anchors=3)
    state = TrendState()
    for _ in range(31):  # 20 values of baseline, then 600 judged
        state = trend_step(state, REFERENCE, 20, 10_000, thresholds).state
    assert state.clock == 600.0
    assert [a.at for a in state.anchors] == [300.0, 400.0, 500.0]


def test_the_statistic_is_the_ramps_z_and_its_shift_the_fitted_one() -> None:
    anchor = Anchor(1_000.0, s1=30.0, q=100.0)
    assert anchor.z() == pytest.approx(3.0)
    assert anchor.shift(1_100.0) == pytest.approx(30.0)  # slope 0.3 per value, 100 values on
    assert Anchor(5.0).z() == 0.0 and Anchor(5.0).shift(10.0) == 0.0


def test_a_trend_back_toward_the_reference_is_no_alarm() -> None:
    """A version that began to serve 0.5 sd off its reference: its values ramp back. The
    same ramp away from the reference is called."""
    assert REFERENCE is not None
    back = _ramp(1, size_sd=-0.5, over=5_000) + 0.5
    away = _ramp(1, size_sd=0.5, over=5_000) + 0.5
    assert _alarms(back) == []
    assert len(_alarms(away)) == 1
    assert away_from_reference(0.4, 0.1) and not away_from_reference(0.4, -0.1)
    assert away_from_reference(0.0, -0.1) and away_from_reference(0.4, -0.9)
    within = TrendState(baseline_n=20_000, baseline_pit=int(0.505 * 20_000 * 10_000))
    assert baseline_offset(within, REFERENCE) == 0.0  # 0.017 sd: within the sampling errors
    off = TrendState(baseline_n=20_000, baseline_pit=int(0.6 * 20_000 * 10_000))
    assert baseline_offset(off, REFERENCE) > 0.2


def test_the_alarmed_incident_ends_when_the_statistic_falls_back() -> None:
    assert REFERENCE is not None
    stream = _ramp(2, size_sd=1.0, over=3_000, n=40_000)
    stream[30_000:] -= 1.0  # back to the baseline: the incident ends, no second alarm
    assert len(_alarms(stream)) == 1
    state, alarmed_at_end = TrendState(), []
    for start in range(0, len(stream) - SUB + 1, SUB):
        bins = bin_index(EDGES, stream[start : start + SUB])
        state = trend_step(state, REFERENCE, len(bins), REFERENCE.pit_sum(bins)).state
        alarmed_at_end.append(state.alarmed)
    assert any(alarmed_at_end) and not alarmed_at_end[-1]


def test_the_state_round_trips_through_its_string() -> None:
    state = TrendState(20_000, 99_990_000, 1_020.5, (Anchor(0.0, 0.1 / 3, 1 / 3),), True)
    assert TrendState.decode(state.encode()) == state
    assert TrendState.decode("") == TrendState()


def test_the_trend_alarm_is_a_notice_and_a_cusums_alarm_outranks_it() -> None:
    assert REFERENCE is not None
    stream = _ramp(0)
    state, severities = SubjectState(), []
    for start in range(0, len(stream) - SUB + 1, SUB):
        bins = bin_index(EDGES, stream[start : start + SUB])
        step = subject_step(state, REFERENCE, len(bins), REFERENCE.pit_sum(bins))
        state = step.state
        if step.severity is not None:
            severities.append(step.severity)
    assert severities[0] == Severity.NOTICE
    assert Severity.NOTICE not in severities[1:]  # later alarms are the CUSUMs', LOW and up
    assert Severity.NOTICE.rank < Severity.LOW.rank
