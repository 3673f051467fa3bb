"""What the notifier sends, and how it is signed and retried (pure).

A notification is a Slack-compatible JSON body (``text``, which Slack, Mattermost and most
chat webhooks show, plus a ``riskstream`` object for machines) built from an alert or a
model-version event. It names models, versions, features and statistics: never a patient or
a feature value of one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, NotRequired

from typing_extensions import TypedDict

from riskstream.models.monitoring.alerts import alert_subject
from riskstream.schemas.events import DriftAlert, ModelVersionEvent, Severity

AWAITING_APPROVAL = "awaits a person's approval"  # in the trainer's reason, manual promotion
SIGNATURE_HEADER = "X-Riskstream-Signature"
TIMESTAMP_HEADER = "X-Riskstream-Timestamp"
# model-version events worth a person's attention (SKIPPED and REGISTERED are routine)
VERSION_NEWS = {
    "PROMOTED": "promoted to champion",
    "ROLLED_BACK": "rolled back to",
    "CHALLENGER": "is the challenger",
    "REJECTED": "was rejected",
    "CONFIRMED": "was confirmed as champion after its watch",
    "FAILED": "failed to train",
}


@dataclass(frozen=True)
class Notification:
    event_id: str  # the alert's or event's id: what de-duplication keys on
    text: str
    payload: dict[str, Any]

    def body(self) -> bytes:
        """The request body, byte-stable (sorted keys) so its signature can be checked."""
        return json.dumps({"text": self.text, "riskstream": self.payload}, sort_keys=True).encode()


SILENCE_KEY = "alert-silence"  # Redis: <key>:<subject> → who silenced it, expiring with it


class Hold(TypedDict):
    """An acknowledgement, or a silence (which holds ``until``): who, why, when (epoch ms)."""

    actor: str
    reason: str
    time: int
    until: NotRequired[int]


def subject_of(
    model_name: str, kind: str, feature: str | None, statistic: str, segment: str | None
) -> str:
    """What a RESOLVED alert resolves, and what a silence holds back: the same model, kind,
    subject and segment."""
    return ":".join([model_name, kind, feature or statistic, segment or ""])


def subject_key(alert: DriftAlert) -> str:
    return subject_of(alert.model_name, alert.kind, alert.feature, alert.statistic, alert.segment)


def alert_wanted(alert: DriftAlert, min_severity: str, firing_was_sent: bool) -> bool:
    """A FIRING alert at or above ``min_severity``; a RESOLVED one when its FIRING was sent."""
    if alert.status == "RESOLVED":
        return firing_was_sent
    return Severity(alert.severity).rank >= Severity(min_severity.upper()).rank


def alert_notification(alert: DriftAlert) -> Notification:
    where = f" in {alert.segment}" if alert.segment else ""
    text = (
        f"[{alert.severity}] {alert.kind} {alert.status} on {alert.model_name} "
        f"v{alert.model_version}{where}: {alert_subject(alert)} {alert.statistic} "
        f"{alert.value:.3g} (threshold {alert.threshold:.3g}, {alert.sample_size} records)"
    )
    payload = {
        "type": "alert",
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "status": alert.status,
        "severity": alert.severity,
        "model": alert.model_name,
        "version": alert.model_version,
        "feature": alert.feature,
        "segment": alert.segment,
        "statistic": alert.statistic,
        "value": alert.value,
        "threshold": alert.threshold,
        "window_start": alert.window_start,
        "window_end": alert.window_end,
        "message": alert.message,
    }
    return Notification(alert.alert_id, text, payload)


def version_notification(event: ModelVersionEvent) -> Notification | None:
    """News of a promotion, rollback, challenge, rejection, confirmation or failure."""
    news = VERSION_NEWS.get(event.status)
    if news is None:
        return None
    awaiting = event.status == "CHALLENGER" and AWAITING_APPROVAL in event.reason
    if awaiting:  # RISKSTREAM_PROMOTION=manual: a person is asked to decide
        news = "awaits a person's approval"
    if event.status == "ROLLED_BACK":
        head = f"{event.model_name}: v{event.previous_version} {news} v{event.version}"
    else:
        head = f"{event.model_name}: v{event.version} {news}"
    payload = {
        "type": "model_version",
        "event_id": event.event_id,
        "status": event.status,
        "model": event.model_name,
        "version": event.version,
        "previous_version": event.previous_version,
        "reason": event.reason,
        "metrics": dict(event.metrics),
        "awaiting_approval": awaiting,
    }
    return Notification(event.event_id, f"{head}: {event.reason}", payload)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 of ``v1:<timestamp>:<body>``: the receiver recomputes it
    with the shared secret and rejects old timestamps (replays)."""
    mac = hmac.new(secret, f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signature_valid(secret: bytes, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def backoff_s(attempt: int, base_s: float, cap_s: float = 60.0) -> float:
    """Wait before try ``attempt`` (2, 3, ...): ``base_s`` doubled per try, capped."""
    return min(cap_s, base_s * 2 ** max(0, attempt - 2))


def retryable(status: int | None) -> bool:
    """A network error (None), a timeout, 429 or a 5xx is worth another try; another 4xx
    means the request itself is refused, and trying again would not change that."""
    return status is None or status == 429 or status >= 500
