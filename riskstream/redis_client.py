"""The workers' Redis connection, and the errors that mean "Redis is away, retry"."""

from __future__ import annotations

import redis

from riskstream.errors import CredentialsRefusedError
from riskstream.settings import Settings, mask_url_password

# A restart, a network blip or a Redis still loading its (empty) dataset: the worker keeps its
# batch uncommitted, waits and retries; anything else is a bug and propagates.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def connect(settings: Settings) -> redis.Redis:
    """A client for ``RISKSTREAM_REDIS_URL`` (AUTH and TLS come from the URL: ``rediss://``,
    ``redis://:password@host``); it reconnects by itself after a restart.

    A Redis that answers but refuses the password raises CredentialsRefusedError now: redis-py
    counts that as a ConnectionError, which the workers would otherwise retry for ever. A
    Redis that is away is not an error here; the workers wait for it."""
    url = settings.redis_url.get_secret_value()
    client = redis.Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=30
    )
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise CredentialsRefusedError(
            "Redis refused riskstream's credentials",
            redis=mask_url_password(url),
            error=str(exc),
            hint="check the password in RISKSTREAM_REDIS_URL (redis://:PASSWORD@host:port/db)",
        ) from None
    except REDIS_DOWN:
        pass
    return client
