"""What a person may do to the model's life, from the CLI or the console: promote, roll back,
challenge, approve or reject, request a retrain, acknowledge or silence an alert.

Each action changes the registry (or Redis, for alerts), announces itself on the topic the
workers follow, and is recorded on the `audit` topic: who, when, on which version, and why.
The CLI and the console call the same functions, so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from riskstream.core.slices import ClusterSettings
from riskstream.core.worker_slices import ChampionSettings
from riskstream.io.kafka.model_events import (
    default_actor,
    publish_audit,
    publish_model_event,
    publish_retrain_request,
)
from riskstream.models.registry import CHALLENGER, CHAMPION, Registry, RegistryError
from riskstream.schemas.events import AuditEvent, ModelVersionEvent


@dataclass(frozen=True)
class Done:
    """What an action changed, in a line a person reads, and its audit record."""

    message: str
    audit: AuditEvent


def record(
    settings: ClusterSettings,
    actor: str,
    action: str,
    version: str | None,
    reason: str,
    registry: Registry | None = None,
    **detail: str,
) -> AuditEvent:
    """Publish an action on the `audit` topic and return it; with ``registry``, note it in
    the version's tags too (who, when, why)."""
    event = AuditEvent.record(
        actor or default_actor(), action, settings.model_name, version, reason, **detail
    )
    if registry is not None and version is not None:
        when = datetime.fromtimestamp(event.event_time / 1000, UTC).isoformat(timespec="seconds")
        registry.note_action(version, f"{action} by {event.actor} at {when}: {reason}")
    publish_audit(settings, event)
    return event


def _announce(
    settings: ChampionSettings,
    status: str,
    version: str,
    alias: str | None,
    previous: str | None,
    reason: str,
) -> None:
    """Tell the workers (scorers swap on it) and people (the notifier) what changed."""
    event = ModelVersionEvent.announce(
        settings.model_name,
        status,
        version=version,
        alias=alias,
        previous_version=previous,
        reason=reason,
    )
    publish_model_event(settings, event)


def promote(
    settings: ChampionSettings, version: str, actor: str, reason: str, watch: bool = True
) -> Done:
    registry = Registry(settings)
    registry.load(version)  # a version that cannot serve is never promoted
    previous = registry.promote(version, watch=watch)
    _announce(settings, "PROMOTED", version, CHAMPION, previous, reason)
    audit = record(settings, actor, "promote", version, reason, registry, previous=previous or "")
    return Done(f"champion: {previous or 'none'} → {version}", audit)


def rollback(settings: ChampionSettings, actor: str, reason: str, to: str | None = None) -> Done:
    """Move `champion` back to the previous champion, or to the earlier version ``to``."""
    registry = Registry(settings)
    if to is not None:
        registry.load(to)  # a version that cannot serve is never made champion
    current, target = registry.rollback(to=to)
    _announce(settings, "ROLLED_BACK", target, CHAMPION, current, reason)
    audit = record(settings, actor, "rollback", target, reason, registry, rolled_back=current)
    return Done(f"champion: {current} → {target} (rolled back)", audit)


def challenge(settings: ChampionSettings, version: str, actor: str, reason: str) -> Done:
    registry = Registry(settings)
    champion = registry.alias_version(CHAMPION)
    if version == champion:
        raise RegistryError(
            "the champion cannot challenge itself",
            version=version,
            hint="`riskstream model list` shows the versions to choose from",
        )
    registry.load(version)  # a version that cannot serve is never scored
    registry.challenge(version)
    _announce(settings, "CHALLENGER", version, CHALLENGER, champion, reason)
    audit = record(settings, actor, "challenge", version, reason, registry, champion=champion or "")
    return Done(f"challenger: {version} (champion {champion or 'none'})", audit)


def decide(
    settings: ChampionSettings, version: str, approve: bool, actor: str, reason: str
) -> Done:
    """Approve (promote) or reject the challenger a manual promotion holds."""
    actor = actor or default_actor()
    registry = Registry(settings)
    if approve:
        registry.load(version)  # a version that cannot serve is never promoted
    champion = registry.decide(version, approve, actor, reason)
    action, status = ("approve", "PROMOTED") if approve else ("reject", "REJECTED")
    said = f"{'approved' if approve else 'rejected'} by {actor}: {reason}"
    _announce(settings, status, version, CHAMPION if approve else None, champion, said)
    audit = record(settings, actor, action, version, reason, registry, champion=champion or "")
    return Done(f"version {version} {said}", audit)


def request_retrain(settings: ChampionSettings, actor: str, reason: str) -> Done:
    """Ask the trainer for a candidate now, on its usual data range."""
    actor = actor or default_actor()
    retrain_id = publish_retrain_request(
        settings, ["MANUAL"], detail=f"requested by {actor}: {reason}"
    )
    audit = record(settings, actor, "retrain", None, reason, retrain_id=retrain_id)
    return Done(f"retrain requested ({retrain_id})", audit)
