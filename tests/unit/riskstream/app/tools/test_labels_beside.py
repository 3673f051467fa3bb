"""The backtest's label reader beside the records: its answer comes from a child process,
and a child that fails leaves the parent to read the labels itself."""

import os
from pathlib import Path

import pytest

from riskstream.app.tools import labels_beside
from riskstream.core.worker_slices import ChampionSettings


def _settings(tmp_path: Path) -> ChampionSettings:
    return ChampionSettings(state_dir=tmp_path)


def test_the_labels_are_read_by_a_child_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(labels_beside, "all_outcomes", lambda s, start: {"reader": os.getpid()})
    with labels_beside.labels_read_beside(_settings(tmp_path), "beginning") as labels:
        answer = labels()
    assert answer["reader"] != os.getpid()  # read beside this process, not in it


def test_a_failing_child_leaves_the_parent_to_read_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parent = os.getpid()

    def outcomes(settings: ChampionSettings, start: str) -> dict[str, int]:
        if os.getpid() != parent:
            raise RuntimeError("the broker went away")
        return {"rq-1": 1}

    monkeypatch.setattr(labels_beside, "all_outcomes", outcomes)
    with labels_beside.labels_read_beside(_settings(tmp_path), "beginning") as labels:
        assert labels() == {"rq-1": 1}
    assert "the broker went away" in caplog.text and "reading here" in caplog.text
