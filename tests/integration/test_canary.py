"""The watch after a promotion, against the real broker, Redis and MLflow (#15): the previous
champion is scored in shadow, a promotion it proves bad on live labels is rolled back with a
HIGH alert and the evidence, and a good one is confirmed after its windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskstream.core.settings import Settings
from riskstream.core.topics import DRIFT_ALERTS, MODEL_VERSIONS
from riskstream.models.registry import CHAMPION, PREVIOUS, WATCH_TAG, Registry
from riskstream.stream_processors.canary import CanaryWatch
from riskstream.stream_processors.joiner import Joiner
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import decoded, deployment_with_champion
from tests.integration.test_shadow import (
    _cli,
    _label_like,
    _running,
    _send,
    _with_challenger,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def test_a_bad_promotion_is_rolled_back_and_a_good_one_confirmed(
    stack: Settings, tmp_path: Path
) -> None:
    """`model promote` moves champion to B and starts the watch. Labels that say the old
    champion A was right: the canary rolls B back (ROLLED_BACK, a HIGH ROLLBACK alert, the
    evidence in B's tags) and the scorer serves A again. Promoted again, B is right on the
    labels: after its one window of paired labels it is CONFIRMED and A leaves the shadow."""
    settings = deployment_with_champion(
        stack, "can", tmp_path, live_min_labels=200, canary_windows=1, performance_min_sample=100
    )
    a, b = _with_challenger(settings, seed=5)
    registry = Registry(settings)
    registry.end_challenge(b, "")  # B is only a registered version here
    scorer, joiner = Scorer(settings), Joiner(settings)
    canary = CanaryWatch(settings)
    stop, threads = _running(scorer, joiner)
    try:
        eventually(lambda: scorer.models.current is not None, 60, "the scorer did not start")
        assert canary.judge() is None  # nothing watched
        _promote_watched(settings, scorer, b, a)
        assert registry.alias_version(PREVIOUS) == a
        _send(settings, 0, 300)
        _label_like(settings, a, 0, 300)
        eventually(lambda: joiner.stats.joined_with_shadow == 300, 60, "300 labels did not join")
        rolled_back = canary.judge()
        assert rolled_back is not None and rolled_back.status == "ROLLED_BACK", rolled_back
        assert (rolled_back.version, rolled_back.previous_version) == (a, b)
        assert rolled_back.metrics["live_n"] == 300
        assert rolled_back.metrics["live_accuracy_challenger"] == 1.0  # A, in shadow
        assert rolled_back.metrics["live_accuracy_p_value"] < 0.05
        assert registry.alias_version(CHAMPION) == a
        assert registry.alias_version(PREVIOUS) is None
        assert "previous champion is better" in registry.get(b).tags[WATCH_TAG]
        eventually(lambda: scorer.models.current.version == a, 60, "the scorer did not roll back")
        eventually(lambda: scorer.models.challenger is None, 60, "the shadow did not stop")
        assert canary.judge() is None  # the watch is over

        _promote_watched(settings, scorer, b, a)
        _send(settings, 300, 150)
        _label_like(settings, b, 300, 150)
        eventually(
            lambda: joiner.stats.joined_with_shadow == 450, 60, "150 more labels did not join"
        )
        confirmed = canary.judge()
        assert confirmed is not None and confirmed.status == "CONFIRMED", confirmed
        assert confirmed.version == b and confirmed.metrics["live_n"] == 150
        assert "no significant loss over 1 window:" in confirmed.reason
        assert registry.alias_version(CHAMPION) == b
        assert registry.alias_version(PREVIOUS) is None
        eventually(lambda: scorer.models.challenger is None, 60, "the shadow did not stop")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    _assert_the_topics_tell_both_decisions(settings, b)


def _promote_watched(settings: Settings, scorer: Scorer, version: str, previous: str) -> None:
    """`model promote version`, then the scorer serves it and scores ``previous`` in shadow."""
    promoted = _cli(settings, "model", "promote", version)
    assert promoted.returncode == 0, promoted.stderr
    eventually(
        lambda: scorer.models.current.version == version, 60, f"no swap to {version} on promotion"
    )
    eventually(lambda: _in_shadow(scorer) == previous, 60, f"{previous} not in shadow")


def _assert_the_topics_tell_both_decisions(settings: Settings, b: str) -> None:
    events = list(
        decoded(settings, settings.topic(MODEL_VERSIONS.name), "ModelVersionEvent", "beginning")
    )
    statuses = [e["status"] for e in events]
    assert statuses[-4:] == ["PROMOTED", "ROLLED_BACK", "PROMOTED", "CONFIRMED"], statuses
    alerts = list(decoded(settings, settings.topic(DRIFT_ALERTS.name), "DriftAlert", "beginning"))
    rollbacks = [x for x in alerts if x["kind"] == "ROLLBACK"]
    assert len(rollbacks) == 1 and rollbacks[0]["severity"] == "HIGH"
    assert rollbacks[0]["model_version"] == b and rollbacks[0]["sample_size"] == 300


def _in_shadow(scorer: Scorer) -> str | None:
    return getattr(scorer.models.challenger, "version", None)
