"""The training process's side of a retrain: holdout metrics, and which online snapshot may
rival a batch version."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from riskstream.models.online import OFFSETS_TAG
from riskstream.models.registry_reader import VersionInfo
from riskstream.stream_processors.retrain_data import RetrainData
from riskstream.stream_processors.retrain_fit import holdout_metrics, online_rival


def test_holdout_metrics_carry_the_sampling_errors_the_gates_weigh_a_miss_against() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 120)
    risk = np.clip(0.4 * labels + rng.normal(0.3, 0.2, 120), 0, 1)

    class _Model:
        threshold = 0.5

        def predict_frame(self, raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            return (risk >= 0.5).astype(int), risk

    frame = pd.DataFrame({"glucose": np.zeros(120)})
    data = RetrainData(frame, pd.Series(dtype=int), frame, labels, [], 120, {}, frame)
    metrics = holdout_metrics(cast(Any, _Model()), data)
    for name in ("accuracy", "roc_auc", "f1"):  # errors of 120 rows: a few points each
        assert 0.005 < metrics[f"{name}_se"] < 0.1, (name, metrics)
    assert metrics["n"] == 120


def _snapshot(version: str, offsets: str | None) -> VersionInfo:
    tags = {} if offsets is None else {OFFSETS_TAG: offsets}
    return VersionInfo(version, (), f"run{version}", tags, {}, 0)


def test_the_online_rival_is_the_newest_snapshot_that_learned_none_of_the_holdout() -> None:
    frame = pd.DataFrame()
    data = RetrainData(frame, pd.Series(dtype=int), frame, np.array([]), [(0, 50)], 0, {}, frame)
    batch = _snapshot("1", None)  # a batch version: no offsets
    learned_holdout = _snapshot("3", "0:60")  # learned up to offset 59
    clean = _snapshot("2", "0:40")  # learned up to offset 39
    assert online_rival([batch, clean, learned_holdout], data) == clean
    assert online_rival([batch, learned_holdout], data) is None
    assert online_rival([], data) is None


def test_a_corrupt_champion_is_compared_with_none_not_a_failed_retrain(tmp_path: Path) -> None:
    from riskstream.stream_processors.retrain_fit import _champion

    corrupt = tmp_path / "bundle.pkl"
    corrupt.write_bytes(b"corrupt")
    assert _champion(corrupt) is None
    assert _champion(None) is None
