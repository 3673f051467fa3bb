"""Acknowledging and silencing alerts (from the console).

An acknowledgement says a person has seen an incident (kept 90 days, by alert id). A silence
holds back the notifier's webhooks for one subject (model, kind, feature or statistic,
segment) for a while; the alert itself is still published and shown. Both are recorded on the
`audit` topic.
"""

from __future__ import annotations

import json

from riskstream.app.tools.model_actions import Done, record
from riskstream.core.ids import now_ms
from riskstream.core.slices import ClusterSettings
from riskstream.io.kafka.model_events import default_actor
from riskstream.io.redis_client import RedisClient, as_text, connect
from riskstream.models.monitoring.notifications import SILENCE_KEY, Hold

ACKS_KEY = "alert-acks"
ACK_TTL_S = 90 * 24 * 3600


def acknowledge(
    settings: ClusterSettings, alert_id: str, subject: str, actor: str, reason: str
) -> Done:
    actor = actor or default_actor()
    held: Hold = {"actor": actor, "reason": reason, "time": now_ms()}
    redis = connect(settings)
    redis.hset(settings.redis_key(ACKS_KEY), alert_id, json.dumps(held))
    redis.expire(settings.redis_key(ACKS_KEY), ACK_TTL_S)
    audit = record(settings, actor, "acknowledge", None, reason, alert_id=alert_id, subject=subject)
    return Done(f"alert {alert_id} acknowledged by {actor}", audit)


def silence(
    settings: ClusterSettings, subject: str, minutes: float, actor: str, reason: str
) -> Done:
    actor = actor or default_actor()
    until = now_ms() + int(minutes * 60_000)
    held: Hold = {"actor": actor, "reason": reason, "time": now_ms(), "until": until}
    connect(settings).set(
        settings.redis_key(SILENCE_KEY, subject), json.dumps(held), px=int(minutes * 60_000)
    )
    audit = record(
        settings, actor, "silence", None, reason, subject=subject, minutes=f"{minutes:g}"
    )
    return Done(f"{subject} silenced for {minutes:g} min by {actor}", audit)


def acks(settings: ClusterSettings, redis: RedisClient | None = None) -> dict[str, Hold]:
    """Acknowledgements by alert id (``redis``: a client to reuse, as the console does)."""
    raw = (redis or connect(settings)).hgetall(settings.redis_key(ACKS_KEY))
    return {as_text(k): json.loads(v) for k, v in raw.items()}


def silences(settings: ClusterSettings, redis: RedisClient | None = None) -> dict[str, Hold]:
    """Active silences by subject."""
    redis = redis or connect(settings)
    head = settings.redis_key(SILENCE_KEY, "")
    found: dict[str, Hold] = {}
    for key in redis.scan_iter(match=f"{head}*", count=1000):
        value = redis.get(key)
        if value is not None:
            found[as_text(key)[len(head) :]] = json.loads(value)
    return found
