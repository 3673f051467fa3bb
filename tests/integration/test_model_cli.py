"""`riskstream model promote` and `rollback` against the real broker and a registry, with a
scorer running: it serves what the registry says, and a rollback is one command away."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from riskstream.core.settings import Settings
from riskstream.core.topics import AUDIT, MODEL_VERSIONS
from riskstream.models.bootstrap import bootstrap
from riskstream.models.registry import (
    AWAITING_TAG,
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PREVIOUS,
    Registry,
    RegistryError,
)
from riskstream.stream_processors.scorer import Scorer
from tests.integration.conftest import decoded, deployment_with_champion, process_env
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def _model(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskstream.app.cli.main", "model", *args],
        env=process_env(settings, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_promote_then_roll_back_and_the_scorer_follows(stack: Settings, tmp_path: Path) -> None:
    settings = deployment_with_champion(stack, "rb", tmp_path, partitions=1, publish=True)
    second = bootstrap(settings)  # a champion exists: version 2 waits as challenger
    assert second.version == "2" and second.alias == "challenger"
    scorer = Scorer(settings, instance="rb")
    stop = threading.Event()
    thread = threading.Thread(target=scorer.run, args=(stop,), daemon=True)
    thread.start()

    def serving() -> str | None:
        current = scorer.models.current
        return current.version if current is not None else None

    try:
        eventually(lambda: serving() == "1", 60, "the scorer serves version 1")
        promoted = _model(settings, "promote", "2")
        assert promoted.returncode == 0, promoted.stderr
        eventually(lambda: serving() == "2", 60, "the scorer serves version 2")

        rolled = _model(settings, "rollback")
        assert rolled.returncode == 0, rolled.stderr
        assert "champion: 2 → 1 (rolled back)" in rolled.stdout
        assert Registry(settings).alias_version(CHAMPION) == "1"
        eventually(lambda: serving() == "1", 60, "the scorer serves version 1")

        again = _model(settings, "rollback")
        assert again.returncode != 0
        assert "no earlier champion to roll back to" in again.stderr + again.stdout
        assert Registry(settings).alias_version(CHAMPION) == "1"
        assert thread.is_alive(), "the scorer kept running through both swaps"
    finally:
        stop.set()
        thread.join(30)
    events = list(
        decoded(settings, settings.topic(MODEL_VERSIONS.name), "ModelVersionEvent", "beginning")
    )
    last = events[-1]
    assert (last["status"], last["version"], last["previous_version"]) == ("ROLLED_BACK", "1", "2")
    assert last["reason"] == "manual rollback"


def test_a_person_approves_or_rejects_the_challenger_and_every_action_is_audited(
    stack: Settings, tmp_path: Path
) -> None:
    """RISKSTREAM_PROMOTION=manual: a version that would be promoted waits as the challenger
    (as the trainer leaves it); `model approve` promotes it (watched, the decision in its
    tags), `model reject` ends another's challenge; those and a rollback are on `audit`."""
    settings = deployment_with_champion(stack, "ap", tmp_path, partitions=1, promotion="manual")
    registry = Registry(settings)
    model = registry.load("1")

    def registered() -> str:  # another version of the same model: cheaper than training one
        return registry.log_and_register(model, params={}, metrics={}, tags={})[1]

    second = registered()
    registry.await_approval(second, "passes the gates")
    with pytest.raises(RegistryError, match="only the challenger"):
        registry.decide("1", True, "mallory", "not a challenger")
    approved = _model(settings, "approve", second, "--reason", "evidence read", "--actor", "alice")
    assert approved.returncode == 0, approved.stderr
    assert registry.alias_version(CHAMPION) == second
    assert registry.alias_version(PREVIOUS) == "1"  # watched like any promotion
    tags = registry.get(second).tags
    assert tags[DECISION_TAG].startswith("approved by alice at ") and AWAITING_TAG not in tags

    third = registered()
    registry.await_approval(third, "passes the gates")
    rejected = _model(settings, "reject", third, "--reason", "too soon", "--actor", "bob")
    assert rejected.returncode == 0, rejected.stderr
    assert registry.alias_version(CHAMPION) == second
    assert registry.alias_version(CHALLENGER) is None
    rolled = _model(settings, "rollback", "--reason", "drill", "--actor", "carol")
    assert rolled.returncode == 0, rolled.stderr

    audit = list(decoded(settings, settings.topic(AUDIT.name), "AuditEvent", "beginning"))
    assert [(a["actor"], a["action"], a["version"], a["reason"]) for a in audit] == [
        ("alice", "approve", second, "evidence read"),
        ("bob", "reject", third, "too soon"),
        ("carol", "rollback", "1", "drill"),
    ]
    assert audit[0]["detail"] == {"champion": "1"}
    events = list(
        decoded(settings, settings.topic(MODEL_VERSIONS.name), "ModelVersionEvent", "beginning")
    )
    assert [(e["status"], e["version"]) for e in events[-3:]] == [
        ("PROMOTED", second),
        ("REJECTED", third),
        ("ROLLED_BACK", "1"),
    ]
    assert events[-3]["reason"] == "approved by alice: evidence read"
