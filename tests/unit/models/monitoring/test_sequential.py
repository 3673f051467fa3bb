import numpy as np
import pytest

from riskstream.models.monitoring.pit import PIT_SCALE, PitReference
from riskstream.models.monitoring.sequential import (
    BASELINE_VALUES,
    CHANGE,
    CusumState,
    SequentialThresholds,
    SubjectState,
    cusum_step,
    effect_severity,
    subject_step,
)
from riskstream.models.monitoring.statistics import DriftThresholds
from riskstream.models.reference import bin_index, histogram, quantile_edges
from riskstream.schemas.events import Severity

RNG = np.random.default_rng(0)
TRAINING = RNG.normal(size=2_000)
EDGES = quantile_edges(TRAINING)
REFERENCE = PitReference.of(histogram(EDGES, TRAINING))


def _run(stream: np.ndarray, size: int = 20) -> tuple[list[int], list[Severity]]:
    """Sub-window ends (record indices) where the CUSUM alarmed, and the severities."""
    assert REFERENCE is not None
    state, ends, severities = CusumState(), [], []
    for start in range(0, len(stream) - size + 1, size):
        bins = bin_index(EDGES, stream[start : start + size])
        step = cusum_step(state, REFERENCE, len(bins), REFERENCE.pit_sum(bins))
        state = step.state
        if step.alarm is not None:
            ends.append(start + size - 1)
            severities.append(step.alarm)
    return ends, severities


def test_the_reference_pit_has_mean_one_half_and_the_uniform_variance() -> None:
    assert REFERENCE is not None
    assert REFERENCE.mean == pytest.approx(0.5, abs=1e-3)
    assert REFERENCE.variance == pytest.approx(1 / 12, rel=0.05)  # ten near-equal bins
    assert PitReference.of([0, 50, 0]) is None  # one occupied bin: no spread


def test_a_clean_stream_raises_nothing_and_a_half_sd_shift_is_called_within_two_subwindows() -> (
    None
):
    clean = np.random.default_rng(1).normal(size=200_000)
    assert _run(clean) == ([], [])
    shifted = np.concatenate([clean[:5_000], clean[5_000:7_000] + 0.5])
    ends, severities = _run(shifted)
    assert ends and 5_000 <= ends[0] < 5_200, ends
    # the shift's lower 95% bound over 100-200 values: at least LOW, not yet the window's
    assert severities[0] in (Severity.LOW, Severity.MEDIUM)


def test_one_alarm_per_incident_until_the_statistic_returns_to_zero() -> None:
    stream = np.random.default_rng(2).normal(size=6_000)
    stream[1_000:3_000] += 1.0  # an incident, over, then another
    stream[4_000:] += 1.0
    ends, severities = _run(stream)
    assert len(ends) == 2, ends
    assert 1_000 <= ends[0] < 1_200 and 4_000 <= ends[1] < 4_200
    assert set(severities) <= {Severity.HIGH, Severity.CRITICAL}  # 1 sd: PSI about 1


def test_a_small_persistent_difference_builds_a_run_but_no_alarm() -> None:
    """A 0.1 sd offset (z near 1 with 100 values) stays below the size gate: PSI about 0.01."""
    stream = np.random.default_rng(3).normal(size=100_000) + 0.1
    ends, _ = _run(stream)
    assert ends == []
    assert REFERENCE is not None
    assert (
        effect_severity(REFERENCE, 1_000, int(0.53 * PIT_SCALE * 1_000), DriftThresholds()) is None
    )


def test_small_subwindows_leave_the_state_alone() -> None:
    assert REFERENCE is not None
    state = CusumState()
    step = cusum_step(state, REFERENCE, 5, 5 * PIT_SCALE, SequentialThresholds(min_sample=30))
    assert step.z is None and step.alarm is None and step.state == state


# the change test: the version's first values as a second reference
SMALL = PitReference.of(histogram(EDGES, np.random.default_rng(5).normal(size=400)))


# a training set's few hundred values whose mean is 0.1 sd off (1.7 of its standard errors)
OFF = PitReference.of(histogram(EDGES, np.random.default_rng(5).normal(size=400) + 0.1))


def _run_both(
    stream: np.ndarray, size: int = 20, reference: PitReference | None = SMALL
) -> list[tuple[int, Severity, bool]]:
    """Sub-window ends where either test alarmed, the severity, and whether the alarm was
    measured against the baseline; the reference is ``SMALL``, a training set's size."""
    assert reference is not None
    state, out = SubjectState(), []
    for start in range(0, len(stream) - size + 1, size):
        bins = bin_index(EDGES, stream[start : start + size])
        step = subject_step(state, reference, len(bins), reference.pit_sum(bins))
        state = step.state
        if step.alarm is not None and step.alarm.alarm is not None:
            out.append((start + size - 1, step.alarm.alarm, step.baseline is not None))
    return out


def test_the_baseline_fills_from_the_first_values_then_the_change_test_starts() -> None:
    assert SMALL is not None
    state = SubjectState()
    for _ in range(BASELINE_VALUES // 100):
        state = subject_step(state, SMALL, 100, 100 * PIT_SCALE // 2).state
        assert state.change == CusumState()  # not judged while the baseline fills
    assert state.baseline_n == BASELINE_VALUES
    baseline = state.baseline(SMALL)
    assert baseline is not None and baseline.mean == 0.5 and baseline.n == BASELINE_VALUES
    assert baseline.scores == SMALL.scores and baseline.variance == SMALL.variance
    moved = subject_step(state, SMALL, 100, 100 * PIT_SCALE // 2).state
    assert moved.baseline_n == BASELINE_VALUES  # full: later values are not part of it


def _first_reference_alarm(stream: np.ndarray, after: int, size: int = 20) -> int | None:
    """Where the reference test alone (against ``OFF``) first alarms at or after ``after``."""
    assert OFF is not None
    state = CusumState()
    for start in range(0, len(stream) - size + 1, size):
        bins = bin_index(EDGES, stream[start : start + size])
        step = cusum_step(state, OFF, len(bins), OFF.pit_sum(bins))
        state = step.state
        if step.alarm is not None and start + size - 1 >= after:
            return start + size - 1
    return None


def test_a_half_sd_shift_is_called_within_about_100_values_against_the_baseline() -> None:
    """The reference test alone, against a training set's few hundred values whose mean
    is a little off, calls few of these shifts within 120 values; with the change test,
    most are. Every shift is called within 400 values. Before it, a LOW false alarm is rare."""
    both = reference_only = early = 0
    for seed in range(40):
        clean = np.random.default_rng(100 + seed).normal(size=5_000)
        shifted = np.concatenate([clean[:4_000], clean[4_000:] + 0.5])
        alarms = _run_both(shifted, reference=OFF)
        early += sum(1 for end, severity, _ in alarms if end < 4_000 and severity == Severity.LOW)
        after = [(end, severity) for end, severity, _ in alarms if end >= 4_000]
        assert after and after[0][0] < 4_400, (seed, alarms)
        assert after[0][1] in (Severity.LOW, Severity.MEDIUM, Severity.HIGH)
        both += after[0][0] < 4_120
        alone = _first_reference_alarm(shifted, 4_000)
        reference_only += alone is not None and alone < 4_120
    # 27 and 6 of 40 when written (against a reference that is not off, both about 24)
    assert both >= 20 and both >= reference_only + 10, (both, reference_only)
    assert early <= 2, early


def test_a_cusum_step_means_the_same_per_value_whatever_the_subwindow_size() -> None:
    """Five sub-windows of 20 values move the statistic as one of their 100 does (below the
    cap, on a run that only grows), so a finer grid only looks more often."""
    assert REFERENCE is not None
    values = np.random.default_rng(9).normal(size=100) + 0.4
    bins = bin_index(EDGES, values)
    whole = cusum_step(CusumState(), REFERENCE, 100, REFERENCE.pit_sum(bins))
    state = CusumState()
    for start in range(0, 100, 20):
        part = bins[start : start + 20]
        state = cusum_step(state, REFERENCE, 20, REFERENCE.pit_sum(part)).state
    assert whole.state.up.run_n == state.up.run_n == 100
    # not equal: the reference's own error is in each sub-window's z, a larger share of 100
    assert 0 < whole.state.up.value < state.up.value < whole.state.up.value * 1.2


def test_a_short_run_does_not_alarm_however_extreme() -> None:
    """A run needs ``min_run`` values: 40 extreme values cross h, but are not read alone."""
    assert REFERENCE is not None
    top = np.full(20, len(REFERENCE.scores) - 1)
    state = CusumState()
    for _ in range(2):
        step = cusum_step(state, REFERENCE, 20, REFERENCE.pit_sum(top))
        state = step.state
        assert step.alarm is None
    assert state.up.value >= SequentialThresholds().threshold and state.up.run_n == 40
    assert cusum_step(state, REFERENCE, 20, REFERENCE.pit_sum(top)).alarm is None  # 60
    loose = SequentialThresholds(min_run=0)
    assert cusum_step(CusumState(), REFERENCE, 20, REFERENCE.pit_sum(top), loose).alarm is None
    crossed = cusum_step(CusumState(), REFERENCE, 20, REFERENCE.pit_sum(top), loose).state
    assert cusum_step(crossed, REFERENCE, 20, REFERENCE.pit_sum(top), loose).alarm is not None


def test_both_tests_stay_quiet_on_a_clean_stream() -> None:
    clean = np.random.default_rng(6).normal(size=300_000)
    assert _run_both(clean) == []


def test_a_drift_present_from_the_start_is_left_to_the_reference_test() -> None:
    """A version that starts serving on shifted data has it in its baseline: the change
    test is quiet, the reference test is not."""
    alarms = _run_both(np.random.default_rng(7).normal(size=10_000) + 1.0)
    assert alarms and not any(against_baseline for _, _, against_baseline in alarms)


def test_the_end_of_a_drift_in_the_baseline_is_no_alarm() -> None:
    """A version that began to serve in a 1 sd drift: when the drift ends, its values move
    off the baseline (the change test's statistic crosses h) but back onto the reference:
    no alarm. The same move away from the reference, after a clean start, is called."""
    assert SMALL is not None
    rng = np.random.default_rng(8)
    drift_ends = np.concatenate([rng.normal(size=3_000) + 1.0, rng.normal(size=3_000)])
    state, crossed = SubjectState(), 0.0
    for start in range(0, len(drift_ends), 100):
        bins = bin_index(EDGES, drift_ends[start : start + 100])
        step = subject_step(state, SMALL, len(bins), SMALL.pit_sum(bins))
        state = step.state
        crossed = max(crossed, state.change.up.value, state.change.down.value)
        assert step.alarm is None or start < 3_000, (start, step)
    assert crossed >= CHANGE.threshold
    drift_begins = np.concatenate([rng.normal(size=3_000), rng.normal(size=3_000) + 1.0])
    assert any(end >= 3_000 for end, _, _ in _run_both(drift_begins))
