"""The control plane's events: ModelVersionEvents on `model-versions` (how scorers and
people learn of registry changes), RetrainRequests on `retrain-requests`, and AuditEvents on
`audit` (what a person did, and why)."""

from __future__ import annotations

from collections.abc import Sequence

from riskstream.core.ids import new_id, now_ms
from riskstream.core.slices import ClusterSettings
from riskstream.core.topics import AUDIT, MODEL_VERSIONS, RETRAIN_REQUESTS
from riskstream.io.kafka.clients import publish_events
from riskstream.schemas.events import AuditEvent, ModelVersionEvent, RetrainRequest


def publish_model_event(settings: ClusterSettings, event: ModelVersionEvent) -> None:
    publish_events(settings, MODEL_VERSIONS.name, [(settings.model_name.encode(), event)])


def publish_retrain_request(
    settings: ClusterSettings,
    reasons: Sequence[str],
    *,
    range_start: int | None = None,
    range_end: int | None = None,
    alert_ids: Sequence[str] = (),
    detail: str = "",
) -> str:
    """Ask the trainer for a new candidate; returns the request's id."""
    request = RetrainRequest(
        new_id(),
        now_ms(),
        settings.model_name,
        list(reasons),
        list(alert_ids),
        range_start,
        range_end,
        detail,
    )
    publish_events(settings, RETRAIN_REQUESTS.name, [(settings.model_name.encode(), request)])
    return request.retrain_id


def publish_audit(settings: ClusterSettings, event: AuditEvent) -> None:
    publish_events(settings, AUDIT.name, [(settings.model_name.encode(), event)])


def default_actor() -> str:
    """``user@host`` of whoever runs the command, when ``--actor`` names no one."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
