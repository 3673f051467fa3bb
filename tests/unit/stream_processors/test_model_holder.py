"""The model holder: a version announced REGISTERED is loaded then, so its promotion is a
pointer move with no registry read; loaded versions are kept within a bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from riskstream.core.settings import Settings
from riskstream.schemas import AvroCodec
from riskstream.schemas.events import ModelVersionEvent
from riskstream.stream_processors.model_holder import LOADED_KEPT, ModelHolder, whole_model


class _Model:
    def __init__(self, version: str) -> None:
        self.version, self.kind = version, "logistic"


class _Registry:
    """Counts the loads a holder asks the registry for."""

    def __init__(self) -> None:
        self.loads: list[str] = []

    def load(self, version: str) -> Any:
        self.loads.append(version)
        return _Model(version)


def _holder(tmp_path: Path) -> tuple[ModelHolder[Any], _Registry]:
    holder = ModelHolder(Settings(state_dir=tmp_path), cast(AvroCodec, None), whole_model)
    registry = _Registry()
    holder.registry = cast(Any, registry)
    return holder, registry


def _event(status: str, version: str) -> ModelVersionEvent:
    alias = "champion" if status == "PROMOTED" else None
    return ModelVersionEvent.announce("diabetes-risk", status, version=version, alias=alias)


def test_a_registered_version_is_loaded_then_and_promoted_without_a_load(tmp_path: Path) -> None:
    holder, registry = _holder(tmp_path)
    assert holder.handle_event(_event("PROMOTED", "1"))
    assert registry.loads == ["1"]
    assert not holder.handle_event(_event("REGISTERED", "2"))
    assert registry.loads == ["1", "2"] and list(holder.prepared) == ["2"]
    assert holder.current is not None and holder.current.version == "1"  # not served yet
    assert holder.handle_event(_event("PROMOTED", "2"))
    assert holder.current is not None and holder.current.version == "2"
    assert registry.loads == ["1", "2"], "the promotion loaded the version again"
    assert holder.swaps == 2 and "2" in holder.serving_since
    # a rollback to the version served before is a pointer move too
    assert holder.handle_event(_event("PROMOTED", "1"))
    assert registry.loads == ["1", "2"]


def test_an_event_of_another_model_is_ignored(tmp_path: Path) -> None:
    holder, registry = _holder(tmp_path)
    other = ModelVersionEvent.announce("other", "REGISTERED", version="3")
    assert not holder.handle_event(other)
    assert registry.loads == [] and not holder.prepared


def test_loaded_versions_are_bounded_but_the_champion_stays(tmp_path: Path) -> None:
    holder, registry = _holder(tmp_path)
    holder.handle_event(_event("PROMOTED", "1"))
    for version in range(2, 2 + 2 * LOADED_KEPT):
        holder.handle_event(_event("REGISTERED", str(version)))
    kept = set(holder._loaded)
    assert len(kept) == LOADED_KEPT and "1" in kept
    holder.handle_event(_event("PROMOTED", "2"))  # evicted long ago: loaded again
    assert registry.loads.count("2") == 2
