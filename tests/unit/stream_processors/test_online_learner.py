from pathlib import Path

import numpy as np
import pytest

from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.models.online import OnlineLearner
from riskstream.stream_processors.labeled_examples import examples_frame
from riskstream.stream_processors.online_learner import Learner


def test_a_registry_that_fails_a_snapshot_leaves_the_learner_learning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = Learner(Settings(state_dir=tmp_path, topic_prefix="unit."))
    raw, y = data.load(data.TRAIN_FILE)
    learner.learner = OnlineLearner.bootstrap(raw, y, lr=0.05, l2=0.0)
    learner.learner.learn(raw.iloc[:50], y.to_numpy()[:50], y.to_numpy()[:50])
    learner._unsaved = 50

    def refuse(*args: object, **kwargs: object) -> tuple[str, str]:
        raise OSError("disk full")

    monkeypatch.setattr(learner.registry, "log_and_register", refuse)
    assert learner.try_snapshot() is None
    assert learner._unsaved == 50  # still owed to the next snapshot
    samples = learner.metrics.registry
    assert samples.get_sample_value("riskstream_online_snapshot_failures_total") == 1
    monkeypatch.undo()
    version = learner.try_snapshot()
    assert version is not None and learner._unsaved == 0
    assert learner.registry.alias_version("online") == version


def test_examples_frame_leaves_unmeasured_features_as_nan() -> None:
    from riskstream.schemas.events import LabeledExample

    example = LabeledExample(
        example_id="e", request_id="r", patient_ref="r", event_time=0, labeled_at=0,
        features={"glucose": 120.0, "age": 33.0}, label=1, risk=0.5, predicted_label=1,
        model_version="1", prediction_partition=0, prediction_offset=0, truth_partition=0,
        truth_offset=0,
    )  # fmt: skip
    frame = examples_frame([example])
    assert frame.loc[0, "glucose"] == 120.0 and frame.loc[0, "age"] == 33.0
    assert np.isnan(frame.loc[0, "bmi"])
