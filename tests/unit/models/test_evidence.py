import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from riskstream.models.evidence import delong_test, mcnemar_test


def paired(both_right: int, only_a: int, only_b: int, both_wrong: int) -> tuple[np.ndarray, ...]:
    """Labels and two models' predictions with the given 2x2 table of right/wrong."""
    cells = [(1, 1, both_right), (1, 0, only_a), (0, 1, only_b), (0, 0, both_wrong)]
    y, a, b = [], [], []
    for a_right, b_right, count in cells:
        for _ in range(count):
            y.append(1)
            a.append(1 if a_right else 0)
            b.append(1 if b_right else 0)
    return np.array(y), np.array(a), np.array(b)


def test_mcnemar_reproduces_agrestis_worked_example() -> None:
    """Agresti (2002), Table 10.1: 1,600 people asked twice; 794 approve both times, 150
    approve then disapprove, 86 the reverse, 570 disapprove both times. The difference of
    the paired proportions is -0.04 with standard error 0.0095: 95% CI (-0.06, -0.02)."""
    y, a, b = paired(794, 150, 86, 570)
    test = mcnemar_test(y, a, b)
    assert test.n == 1600 and test.method == "McNemar chi-square, corrected"
    assert test.a == pytest.approx(944 / 1600) and test.b == pytest.approx(880 / 1600)
    assert test.difference == pytest.approx(-0.04)
    assert (test.ci_low, test.ci_high) == pytest.approx((-0.0587, -0.0213), abs=5e-4)
    # (|86 - 150| - 1)^2 / 236 = 16.82 on one degree of freedom
    assert test.p_value == pytest.approx(4.11e-5, rel=0.01)
    assert test.worse(0.05) and not test.better(0.05)


def test_mcnemar_is_exact_with_few_discordant_pairs() -> None:
    y, a, b = paired(50, 1, 8, 10)
    test = mcnemar_test(y, a, b)
    assert test.method == "McNemar exact"
    assert test.p_value == pytest.approx(2 * (1 + 9) / 512)  # P(X <= 1 or X >= 8), X ~ B(9, .5)
    assert test.better(0.05)


def test_mcnemar_with_identical_predictions_finds_nothing() -> None:
    y, a, _ = paired(40, 0, 0, 10)
    test = mcnemar_test(y, a, a)
    assert test.difference == 0 and test.p_value == 1.0 and not test.better(0.05)


def _brute_force_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from the definition: psi over every positive-negative pair."""
    components = []
    for score in (a, b):
        pos, neg = score[y == 1], score[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components
    m, n = len(v10_a), len(v01_a)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / m + s01 / n
    return auc_b - auc_a, cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_delong_matches_the_definition_and_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = (rng.uniform(size=400) < 0.35).astype(int)
    a = np.round(y * 0.8 + rng.normal(size=400), 1)  # rounded: ties, which midranks handle
    b = np.round(y * 1.2 + 0.6 * a + rng.normal(size=400), 1)  # correlated with a
    test = delong_test(y, a, b)
    assert test.a == pytest.approx(roc_auc_score(y, a)) and test.b == pytest.approx(
        roc_auc_score(y, b)
    )
    difference, variance = _brute_force_delong(y, a, b)
    assert test.difference == pytest.approx(difference)
    half = test.ci_high - test.difference
    assert half == pytest.approx(1.959964 * np.sqrt(variance), rel=1e-6)


def test_delongs_variance_agrees_with_the_bootstrap() -> None:
    rng = np.random.default_rng(5)
    y = (rng.uniform(size=600) < 0.4).astype(int)
    a = y * 0.7 + rng.normal(size=600)
    b = y * 0.9 + 0.5 * a + rng.normal(size=600)
    test = delong_test(y, a, b)
    draws = []
    for _ in range(800):
        i = rng.integers(0, 600, 600)
        draws.append(roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]))
    bootstrap_se = float(np.std(draws, ddof=1))
    delong_se = (test.ci_high - test.difference) / 1.959964
    assert delong_se == pytest.approx(bootstrap_se, rel=0.15)


def test_delong_separates_a_real_gain_from_noise() -> None:
    rng = np.random.default_rng(8)
    y = (rng.uniform(size=2000) < 0.35).astype(int)
    weak = y * 0.5 + rng.normal(size=2000)
    strong = y * 1.5 + rng.normal(size=2000)
    assert delong_test(y, weak, strong).better(0.01)
    assert delong_test(y, strong, weak).worse(0.01)
    same = delong_test(y, weak, weak + rng.normal(scale=1e-3, size=2000))
    assert not same.better(0.05) and not same.worse(0.05)


def test_delong_refuses_one_class() -> None:
    with pytest.raises(ValueError, match="two positives and two negatives"):
        delong_test(np.ones(10), np.arange(10), np.arange(10))


@pytest.mark.parametrize(
    ("successes", "trials"), [(0, 5), (2, 10), (5, 10), (7, 10), (1, 1), (30, 100), (12, 24)]
)
def test_the_exact_mcnemar_p_value_is_scipy_stats_binomtest(successes: int, trials: int) -> None:
    """The trainer computes it with scipy.special (scipy.stats would cost it 46 MiB)."""
    from scipy.stats import binomtest

    from riskstream.models.evidence import _exact_two_sided

    expected = binomtest(successes, trials, 0.5).pvalue
    assert _exact_two_sided(successes, trials) == pytest.approx(expected, rel=1e-9)
