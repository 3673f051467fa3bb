import numpy as np

from riskstream.models.multivariate import MIN_ROWS, fit_joint_model, reconstruction_errors

FEATURES = ["a", "b", "c", "d"]


def _correlated(n: int, rng: np.random.Generator, rho: float = 0.8) -> np.ndarray:
    """Two pairs of strongly correlated columns."""
    cov = np.array([[1, rho, 0, 0], [rho, 1, 0, 0], [0, 0, 1, rho], [0, 0, rho, 1]])
    return rng.multivariate_normal(np.zeros(4), cov, size=n) * [1, 10, 100, 1] + [0, 5, 50, 1]


def test_records_that_break_the_references_correlations_are_rebuilt_worse() -> None:
    rng = np.random.default_rng(0)
    model = fit_joint_model(_correlated(2000, rng), FEATURES)
    assert model is not None and len(model["components"]) == 2  # one per correlated pair
    same = reconstruction_errors(model, _correlated(2000, rng))
    broken = _correlated(2000, rng)
    broken[:, 1] = rng.permutation(broken[:, 1])  # b keeps its marginal, loses a
    worse = reconstruction_errors(model, broken)
    assert np.median(worse) > 1.5 * np.median(same)


def test_components_are_orthonormal_and_a_missing_input_gives_no_error() -> None:
    rng = np.random.default_rng(1)
    model = fit_joint_model(_correlated(500, rng), FEATURES)
    assert model is not None
    components = np.asarray(model["components"])
    assert np.allclose(components @ components.T, np.eye(len(components)), atol=1e-9)
    rows = _correlated(3, rng)
    rows[1, 2] = np.nan
    errors = reconstruction_errors(model, rows)
    assert np.isfinite(errors[[0, 2]]).all() and np.isnan(errors[1])


def test_no_model_from_too_few_complete_rows_or_a_constant_feature() -> None:
    rng = np.random.default_rng(2)
    rows = _correlated(MIN_ROWS + 10, rng)
    rows[:20, 0] = np.nan  # fewer than MIN_ROWS complete
    assert fit_joint_model(rows, FEATURES) is None
    constant = _correlated(500, rng)
    constant[:, 3] = 7.0
    assert fit_joint_model(constant, FEATURES) is None
    assert fit_joint_model(_correlated(500, rng)[:, :1], ["a"]) is None
