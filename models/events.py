"""ModelVersionEvents on `model-versions`: how scorers and people learn of registry changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from riskstream.kafka.clients import new_id, now_ms, publish_events
from riskstream.settings import Settings
from riskstream.topics import MODEL_VERSIONS, RETRAIN_REQUESTS


def model_version_event(
    settings: Settings,
    status: str,
    *,
    version: str | None = None,
    alias: str | None = None,
    previous_version: str | None = None,
    reason: str = "",
    metrics: Mapping[str, float] | None = None,
    run_id: str | None = None,
    lineage: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "event_time": now_ms(),
        "model_name": settings.model_name,
        "version": version,
        "alias": alias,
        "previous_version": previous_version,
        "status": status,
        "reason": reason,
        "metrics": {k: float(v) for k, v in (metrics or {}).items() if v == v},
        "run_id": run_id,
        "lineage": dict(lineage or {}),
    }


def publish_model_event(settings: Settings, event: Mapping[str, Any]) -> None:
    publish_events(
        settings,
        MODEL_VERSIONS.name,
        "ModelVersionEvent",
        [(settings.model_name.encode(), event)],
    )


def publish_retrain_request(
    settings: Settings,
    reasons: Sequence[str],
    *,
    range_start: int | None = None,
    range_end: int | None = None,
    alert_ids: Sequence[str] = (),
    detail: str = "",
) -> str:
    """Ask the trainer for a new candidate; returns the request's id."""
    retrain_id = new_id()
    request = {
        "retrain_id": retrain_id,
        "event_time": now_ms(),
        "model_name": settings.model_name,
        "reasons": list(reasons),
        "alert_ids": list(alert_ids),
        "range_start": range_start,
        "range_end": range_end,
        "detail": detail,
    }
    publish_events(
        settings, RETRAIN_REQUESTS.name, "RetrainRequest", [(settings.model_name.encode(), request)]
    )
    return retrain_id
