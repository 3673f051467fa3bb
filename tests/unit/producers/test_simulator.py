import numpy as np
import pytest

from riskstream.models import data
from riskstream.producers.simulator import PimaModel, Scenario, Simulator, window_means
from riskstream.schemas.patient_record import validate_record


@pytest.fixture(scope="module")
def model() -> PimaModel:
    return PimaModel.fit()


def _records(
    model: PimaModel, scenario: Scenario, n: int = 4000, seed: int = 3, baseline: float = 0.0
) -> list:
    """Complete records unless ``baseline`` asks for the training data's gaps."""
    sim = Simulator(model, scenario, seed=seed, baseline_missing=baseline)
    return list(sim.stream(n, 1_700_000_000_000))


def test_measured_values_only_no_spike_at_the_training_median(model: PimaModel) -> None:
    """The old simulator sampled the median-imputed training data: 35% of its patients had a
    skin thickness of exactly 29.0. Real measurements have no such spike."""
    raw, _ = data.load(data.TRAIN_FILE)
    median = float(raw["skin_thickness"].median())
    skin = np.array([r.record.skin_thickness for r in _records(model, Scenario())])
    assert np.mean(skin == median) < 0.08
    observed = raw["skin_thickness"].dropna()
    assert np.mean(skin) == pytest.approx(observed.mean(), rel=0.05)


def test_gaps_come_at_each_features_training_rate(model: PimaModel) -> None:
    raw, _ = data.load(data.TRAIN_FILE)
    records = _records(model, Scenario(), n=6000, baseline=1.0)
    for name in ("skin_thickness", "blood_pressure", "bmi", "glucose"):
        rate = np.mean([getattr(r.record, name) is None for r in records])
        assert rate == pytest.approx(raw[name].isna().mean(), abs=0.02), name
    # the gaps do not change a seed's measured values or ids
    complete = _records(model, Scenario(), n=6000)
    assert [r.record.request_id for r in records] == [r.record.request_id for r in complete]
    assert [r.record.age for r in records] == [r.record.age for r in complete]


def test_same_seed_same_stream(model: PimaModel) -> None:
    a = [r.record for r in _records(model, Scenario(), 50)]
    b = [r.record for r in _records(model, Scenario(), 50)]
    c = [r.record for r in _records(model, Scenario(), 50, seed=4)]
    assert a == b and a != c


def test_clean_stream_looks_like_pima(model: PimaModel) -> None:
    records = _records(model, Scenario())
    raw, outcome = data.load(data.TRAIN_FILE)
    for name in ("glucose", "bmi", "age", "pregnancies"):
        simulated = np.mean([getattr(r.record, name) for r in records])
        assert simulated == pytest.approx(raw[name].mean(), rel=0.05), name
    assert all(float(r.record.age).is_integer() for r in records)
    assert all(validate_record(r.record.to_avro()) is None for r in records)
    assert np.mean([r.outcome for r in records]) == pytest.approx(outcome.mean(), abs=0.03)
    diabetic = np.mean([r.record.glucose for r in records if r.outcome == 1])
    healthy = np.mean([r.record.glucose for r in records if r.outcome == 0])
    assert diabetic - healthy > 20  # the class-conditional structure survives
    corr = np.corrcoef([r.record.bmi for r in records], [r.record.skin_thickness for r in records])[
        0, 1
    ]
    assert corr > 0.4  # and so does a correlation between features


@pytest.mark.parametrize("ramp", [0, 1000])
def test_covariate_shift_moves_window_means_by_the_requested_size(
    model: PimaModel, ramp: int
) -> None:
    scenario = Scenario.named("covariate-shift", start=2000, size_sd=0.5, ramp=ramp)
    means = window_means([r.record for r in _records(model, scenario)], "glucose", 1000)
    before, after = np.mean(means[:2]), means[3]
    assert (after - before) / model.sd["glucose"] == pytest.approx(0.5, abs=0.12)
    if ramp:  # halfway up the ramp in the third block
        assert 0.1 < (means[2] - before) / model.sd["glucose"] < 0.4
    else:
        assert (means[2] - before) / model.sd["glucose"] == pytest.approx(0.5, abs=0.12)


def test_concept_drift_changes_what_predicts_the_outcome(model: PimaModel) -> None:
    records = _records(model, Scenario.named("concept-drift", start=2000))

    def corr(part: list, name: str) -> float:
        return float(
            np.corrcoef([getattr(r.record, name) for r in part], [r.outcome for r in part])[0, 1]
        )

    before, after = records[:2000], records[2000:]
    # glucose still correlates with BMI and age, so it keeps some signal, but much less
    assert corr(before, "glucose") > 0.35
    assert corr(after, "glucose") < corr(before, "glucose") - 0.15
    assert corr(after, "bmi") > corr(before, "bmi") + 0.15
    before_means = window_means([r.record for r in before], "glucose", 2000)
    after_means = window_means([r.record for r in after], "glucose", 2000)
    assert after_means[0] == pytest.approx(before_means[0], rel=0.05)  # features unchanged


def test_missing_surge(model: PimaModel) -> None:
    records = _records(model, Scenario.named("missing-surge", start=2000, missing_rate=0.4))
    before = np.mean([r.record.bmi is None for r in records[:2000]])
    after = np.mean([r.record.bmi is None for r in records[2000:]])
    assert before == 0 and after == pytest.approx(0.4, abs=0.04)


def test_volume_drop_spaces_records_out(model: PimaModel) -> None:
    records = _records(model, Scenario.named("volume-drop", start=2000, volume_factor=0.25))
    gaps = np.diff([r.offset_s for r in records])
    assert gaps[100] == pytest.approx(1 / 50)
    assert gaps[3000] == pytest.approx(4 / 50)


def test_label_delay_follows_its_distribution(model: PimaModel) -> None:
    records = _records(model, Scenario.named("label-delay", label_delay_s=20.0))
    assert np.mean([r.label_delay_s for r in records]) == pytest.approx(20.0, rel=0.08)
    assert all(r.label_delay_s >= 0 for r in records)


def test_unknown_scenarios_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        Scenario.named("earthquake")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"missing_rate": 1.5}, "missing rate"),
        ({"volume_factor": 0.0}, "volume factor"),
        ({"label_delay_s": -1.0}, "label delay"),
        ({"ramp": -5}, "ramp"),
    ],
)
def test_impossible_scenario_settings_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario.named("covariate-shift", **overrides)
    with pytest.raises(ValueError, match="start index"):
        Scenario.named("none", start=-1)


def test_population_shift_moves_the_population_and_keeps_p_outcome_given_features(
    model: PimaModel,
) -> None:
    """A covariate shift in the strict sense: patients are selected by their features alone,
    so the outcome rate at a given glucose level is what it was, while the population moves."""
    n = 40_000
    scenario = Scenario.named("population-shift", start=n // 2, size_sd=0.8)
    batch = Simulator(model, scenario, seed=4).draw(n)
    glucose, outcome = batch.frame["glucose"].to_numpy(), batch.outcome
    before, after = slice(0, n // 2), slice(n // 2, n)
    shift = (glucose[after].mean() - glucose[before].mean()) / model.sd["glucose"]
    assert 0.5 < shift < 1.0
    assert outcome[after].mean() > outcome[before].mean() + 0.08  # more of them are diabetic
    for low, high in ((80, 110), (110, 140), (140, 170)):
        inside = (glucose >= low) & (glucose < high)
        rate_before = outcome[before][inside[before]].mean()
        rate_after = outcome[after][inside[after]].mean()
        assert rate_after == pytest.approx(rate_before, abs=0.04), (low, high)
    additive = Simulator(model, Scenario.named("covariate-shift", start=n // 2), seed=4).draw(n)
    assert additive.outcome[after].mean() == pytest.approx(
        additive.outcome[before].mean(), abs=0.02
    )


def test_sources_spread_evenly_and_a_source_drift_shifts_only_that_clinic(
    model: PimaModel,
) -> None:
    n = 20_000
    scenario = Scenario.named("source-drift", start=n // 2, size_sd=1.0, source=2)
    batch = Simulator(model, scenario, seed=6, sources=5).draw(n)
    names, counts = np.unique(batch.sources, return_counts=True)
    assert list(names) == [f"clinic-{k}" for k in range(5)]
    assert all(abs(c - n / 5) < 0.05 * n / 5 for c in counts)
    glucose = batch.frame["glucose"].to_numpy()
    later = np.arange(n) >= n // 2
    for k in range(5):
        mine = batch.sources == f"clinic-{k}"
        shift = (glucose[mine & later].mean() - glucose[mine & ~later].mean()) / model.sd["glucose"]
        assert shift == pytest.approx(1.0 if k == 2 else 0.0, abs=0.1), k
    clean = Simulator(model, Scenario(), seed=6, sources=5).draw(n)
    assert list(clean.sources) == list(batch.sources)  # the spread does not depend on it


def test_a_drifted_source_beyond_the_spread_is_refused(model: PimaModel) -> None:
    with pytest.raises(ValueError, match="use --sources"):
        Simulator(model, Scenario.named("source-drift", source=3), sources=2).draw(10)


def test_correlation_change_flips_bmis_correlations_and_keeps_every_marginal(
    model: PimaModel,
) -> None:
    """Mirroring BMI's rank within each outcome class: its correlation with skin thickness
    changes sign, while each feature's distribution and the outcome rate stay put, so no
    per-feature test can see it."""
    n, start = 8000, 4000
    batch = Simulator(model, Scenario.named("correlation-change", start), seed=5).draw(n)
    before, after = batch.frame.iloc[:start], batch.frame.iloc[start:]
    assert Scenario.named("correlation-change").features == ("bmi",)
    assert before["bmi"].corr(before["skin_thickness"]) > 0.4
    assert after["bmi"].corr(after["skin_thickness"]) < -0.4
    for name in ("bmi", "skin_thickness", "glucose"):
        quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
        low, high = before[name].quantile(quantiles), after[name].quantile(quantiles)
        assert np.allclose(low, high, rtol=0.05), name
    assert abs(batch.outcome[:start].mean() - batch.outcome[start:].mean()) < 0.03
    # class by class too: the mirror keeps each class's BMI where it was
    for label in (0, 1):
        mine = batch.outcome == label
        was, now = before["bmi"][mine[:start]], after["bmi"][mine[start:]]
        assert abs(was.mean() - now.mean()) < 0.1 * model.sd["bmi"], label
