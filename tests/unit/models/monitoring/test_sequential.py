import numpy as np
import pytest

from riskstream.models.monitoring.sequential import (
    PIT_SCALE,
    CusumState,
    PitReference,
    SequentialThresholds,
    cusum_step,
    effect_severity,
)
from riskstream.models.monitoring.statistics import DriftThresholds
from riskstream.models.reference import bin_index, histogram, quantile_edges
from riskstream.schemas.events import Severity

RNG = np.random.default_rng(0)
TRAINING = RNG.normal(size=2_000)
EDGES = quantile_edges(TRAINING)
REFERENCE = PitReference.of(histogram(EDGES, TRAINING))


def _run(stream: np.ndarray, size: int = 100) -> tuple[list[int], list[Severity]]:
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
