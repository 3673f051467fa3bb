"""A clinic's own files, end to end against the real broker, Redis and MLflow: records from a
CSV, their outcomes from another, the joiner and the performance monitor at work, and the
windowed accuracy they compute equal to the one computed by hand from the same files; and a
champion trained on the clinic's own history."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskstream.app.cli.main import app
from riskstream.core.settings import Settings
from riskstream.models import data
from riskstream.models.registry import CHAMPION, Registry
from riskstream.producers.publish import publish_file
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.performance import PerformanceMonitor
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import deployment_with_champion, fresh_prefix, worker_env
from tests.waiting import eventually

pytestmark = pytest.mark.integration
WINDOW_S = 10
T0 = 1_760_000_000_000 - 1_760_000_000_000 % (WINDOW_S * 1000)  # labels' times, in the past
ROWS = 300
PER_WINDOW = 120  # labels 0-119 in the first window, 120-239 in the second, the rest after


def _files(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame, np.ndarray]:
    raw, y = data.load(data.HOLDOUT_FILE)
    raw, outcome = raw.head(ROWS), y.head(ROWS).to_numpy()
    records = raw.copy()
    records.insert(0, "request_id", [f"visit-{i}" for i in range(ROWS)])
    records.insert(1, "patient_id", [f"p{i}" for i in range(ROWS)])
    records_csv = tmp_path / "visits.csv"
    records.to_csv(records_csv, index=False)
    window_ms, step = WINDOW_S * 1000, WINDOW_S * 1000 // PER_WINDOW
    labels = pd.DataFrame(
        {
            "request_id": records["request_id"],
            "outcome": np.where(outcome == 1, "yes", "no"),
            "event_time": [
                T0 + (i // PER_WINDOW) * window_ms + (i % PER_WINDOW) * step for i in range(ROWS)
            ],
        }
    )
    extra = pd.DataFrame(
        {"request_id": ["never-scored", "visit-1"], "outcome": ["1", "2"], "event_time": [T0, T0]}
    )
    labels_csv = tmp_path / "outcomes.csv"
    pd.concat([labels, extra], ignore_index=True).to_csv(labels_csv, index=False)
    return records_csv, labels_csv, raw, outcome


def test_records_and_labels_from_files_give_the_accuracy_computed_by_hand(
    stack: Settings, tmp_path: Path
) -> None:
    settings = deployment_with_champion(
        stack, "cf", tmp_path, partitions=2, performance_window_s=WINDOW_S,
        performance_lateness_s=0, joiner_grace_s=1.0,
    )  # fmt: skip
    records_csv, labels_csv, raw, outcome = _files(tmp_path)
    stop = threading.Event()
    scorer, joiner = Scorer(settings), Joiner(settings)
    threads = [
        threading.Thread(target=worker.run, args=(stop,), daemon=True)
        for worker in (scorer, joiner)
    ]
    for thread in threads:
        thread.start()
    try:
        sent = publish_file(settings, records_csv)
        assert sent.sent == ROWS and not sent.rejected
        eventually(lambda: joiner.stats.predictions_cached >= ROWS, 120, "every prediction cached")
        result = CliRunner().invoke(
            app, ["publish", "--labels-from", str(labels_csv), "--rate", "0"],
            env=worker_env(settings),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert f"{ROWS} label(s): their prediction is waiting in the joiner" in text
        assert "1 label(s): no prediction for their request yet" in text
        assert f"rejected row {ROWS + 3}: outcome: outcome '2' is not 1/0" in text
        eventually(lambda: joiner.stats.joined >= ROWS, 120, "every label joined")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    monitor = PerformanceMonitor(settings)
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        eventually(lambda: monitor.stats.windows_closed >= 2, 120, "two performance windows closed")
    finally:
        stop.set()
        thread.join(30)
    # by hand, from the same files: the champion's decisions on the records, against the
    # outcomes, in the windows the outcomes' times fall in
    champion = Registry(settings).load(Registry(settings).alias_version(CHAMPION) or "")
    _, risk = champion.predict_frame(raw)
    correct = (risk >= champion.threshold).astype(int) == outcome
    measured = {start: m["accuracy"] for (v, start), m in monitor.stats.metrics.items()}
    for w in (0, 1):
        start = T0 + w * WINDOW_S * 1000
        by_hand = correct[w * PER_WINDOW : (w + 1) * PER_WINDOW].mean()
        assert measured[start] == pytest.approx(by_hand, abs=1e-9), (w, measured)


def _history(tmp_path: Path, first: str) -> Path:
    """``first`` then Pima.te as one clinic's history, in riskstream's column names."""
    frames = []
    for name in (first, data.HOLDOUT_FILE):
        features, y = data.load(name)
        frames.append(features.assign(diabetic=y.map({1: "Yes", 0: "No"})))
    path = tmp_path / f"{first.removesuffix('.csv')}-then-te.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def test_a_clinics_history_trains_a_champion_printed_beside_the_bundled_one(
    stack: Settings, tmp_path: Path
) -> None:
    """Pima.tr2 (100 of its rows with empty cells) then Pima.te as one clinic's history: its
    newest quarter, all Pima.te rows, judges. Pima.tr then Pima.te is registered too, but
    its logistic fails the F1 gate on that quarter: the gates judge a clinic's history as
    they judge the bundled data."""
    settings = stack.model_copy(update={"topic_prefix": fresh_prefix("ct"), "state_dir": tmp_path})
    argv = ["model", "train", "--label-column", "diabetic", "--no-publish", "--from"]
    env = worker_env(settings)
    result = CliRunner().invoke(app, [*argv, str(_history(tmp_path, "Pima.tr.csv"))], env=env)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "the newest 133 rows of Pima.tr-then-te.csv (te) only reports" in text
    assert "bundled Pima champion" in text
    assert "no alias: fails the quality gates: f1" in text
    registry = Registry(settings)
    assert registry.alias_version(CHAMPION) is None and len(registry.versions()) == 1

    history = _history(tmp_path, data.TRAIN_FILE)
    result = CliRunner().invoke(app, [*argv, str(history)], env=env)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "the newest 158 rows of Pima.tr2-then-te.csv (te) only reports" in text
    assert "champion: bootstrap: no champion yet and the gates pass" in text
    version = registry.alias_version(CHAMPION)
    assert version == "2"
    lineage = registry.get(version).tags["riskstream.data_lineage"]
    assert lineage.startswith("Pima.tr2-then-te.csv sha256:")
    bad = CliRunner().invoke(app, [*argv, str(history), "--label-column", "outcome"], env=env)
    assert bad.exit_code == 1 and "no column 'outcome'" in bad.output
