"""When a background search may be judged: not while the canary watches the refit it
follows, and never once the champion moved on from what the refit left (a rollback says the
request's data no longer speaks for the traffic)."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from riskstream.core.settings import Settings
from riskstream.models.registry import Watch
from riskstream.stream_processors.retrain_data import RetrainData
from riskstream.stream_processors.retrain_run import PendingSearch, Retrainer


class _Registry:
    def __init__(self) -> None:
        self.watching: Watch | None = None
        self.challenger: str | None = None

    def watch(self) -> Watch | None:
        return self.watching

    def alias_version(self, alias: str) -> str | None:
        assert alias == "challenger"
        return self.challenger


def _pending(on_trial: bool = False, expected: str | None = "2") -> PendingSearch:
    future: Future[Any] = Future()
    future.set_result(object())  # a finished search
    frame = pd.DataFrame()
    data = RetrainData(
        frame, pd.Series(dtype=int), frame, np.array([]), [], 0, {"retrain_ids": "r1"}, frame
    )
    return PendingSearch(future, data, "2", on_trial, expected)


@pytest.fixture
def retrainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Retrainer:
    registry = _Registry()
    made = Retrainer(Settings(state_dir=tmp_path), cast(Any, registry), lambda event: None)
    judged: list[Any] = []
    monkeypatch.setattr(made, "judge", lambda *args: judged.append(args) or "JUDGED")
    monkeypatch.setattr(made, "_judge_search", lambda result, data, bundle: "FITTED")
    made.judged = judged  # type: ignore[attr-defined]
    return made


def test_a_search_waits_while_the_canary_watches_its_refit(
    retrainer: Retrainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrainer, "_champion", lambda: ("2", None))
    registry = cast(_Registry, retrainer.registry)
    registry.watching = Watch(champion="2", previous="1", since_ms=0)
    retrainer.pending = [_pending()]
    assert retrainer.finished_searches() == [] and len(retrainer.pending) == 1
    registry.watching = None  # the canary confirmed version 2
    assert retrainer.finished_searches() == ["JUDGED"] and retrainer.pending == []


def test_a_search_waits_while_its_refit_is_the_challenger_and_follows_only_a_winner(
    retrainer: Retrainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = cast(_Registry, retrainer.registry)
    registry.challenger = "2"  # live evidence still decides on the refit
    monkeypatch.setattr(retrainer, "_champion", lambda: ("1", None))
    retrainer.pending = [_pending(on_trial=True)]
    assert retrainer.finished_searches() == []
    registry.challenger = None  # rejected: version 1 stays champion
    (skipped,) = retrainer.finished_searches()
    assert skipped.status == "SKIPPED"
    monkeypatch.setattr(retrainer, "_champion", lambda: ("2", None))  # promoted instead
    retrainer.pending = [_pending(on_trial=True)]
    assert retrainer.finished_searches() == ["JUDGED"]
    # a refit the holdout turned away, with no one to try it (holdout evidence): the
    # search may still beat the unchanged champion, and is not held for a decision
    monkeypatch.setattr(retrainer, "_champion", lambda: ("1", None))
    registry.challenger = "2"
    retrainer.pending = [_pending(on_trial=False, expected="1")]
    assert retrainer.finished_searches() == ["JUDGED"]


def test_a_search_whose_champion_moved_on_is_skipped_unregistered(
    retrainer: Retrainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retrainer, "_champion", lambda: ("1", None))  # rolled back to 1
    retrainer.pending = [_pending()]
    (event,) = retrainer.finished_searches()
    assert event.status == "SKIPPED" and event.version is None
    assert "the champion is version 1 now, not version 2" in event.reason
    assert event.lineage["search"] == "background, after the refit of version 2"
    assert retrainer.judged == []  # type: ignore[attr-defined]
