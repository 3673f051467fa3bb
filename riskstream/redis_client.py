"""The workers' Redis connection, and the errors that mean "Redis is away, retry"."""

from __future__ import annotations

import redis

from riskstream.settings import Settings

# A restart, a network blip or a Redis still loading its (empty) dataset: the worker keeps its
# batch uncommitted, waits and retries; anything else is a bug and propagates.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def connect(settings: Settings) -> redis.Redis:
    """A client for ``RISKSTREAM_REDIS_URL`` (AUTH and TLS come from the URL: ``rediss://``,
    ``redis://:password@host``); it reconnects by itself after a restart."""
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )
