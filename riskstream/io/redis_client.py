"""The workers' Redis connection (one Redis, or a Redis Cluster), and the errors that mean
"Redis is away, retry".

On a cluster every key of one Lua script or transaction must hash to one slot: the window
stores put all their keys under one hash tag per deployment and store
(:meth:`ClusterSettings.redis_slot_key`); the joiner's per-request keys stand alone and are read
with :func:`mget` across slots.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any, TypeAlias, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from riskstream.core.errors import CredentialsRefusedError, ServiceUnavailableError
from riskstream.core.settings import mask_url_password
from riskstream.core.slices import ClusterSettings

# A restart, a network blip or a Redis still loading its (empty) dataset: the worker keeps its
# batch uncommitted, waits and retries; anything else is a bug and propagates.
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)

# How long a worker waits before it tries again what Redis did not answer: the one retry
# policy of every worker (riskstream.io.kafka.contract.retry_while_unavailable and the engines).
REDIS_RETRY_S = 1.0
T = TypeVar("T")
log = logging.getLogger(__name__)


def note_unavailable(worker: str, exc: BaseException, what: str = "the batch") -> None:
    """Say that a dependency is away and ``what`` waits ``REDIS_RETRY_S`` to be tried again."""
    log.warning("%s: %s; %s is retried in %.0f s", worker, _away(exc), what, REDIS_RETRY_S)


def _away(exc: BaseException) -> str:
    return f"Redis unavailable ({exc})" if isinstance(exc, REDIS_DOWN) else f"unavailable ({exc})"


# The cluster client offers every command riskstream uses (tests/integration/test_redis_cluster.py
# runs the monitor, joiner and trigger on one); typed as the single-node client, whose stubs
# are complete.
RedisClient: TypeAlias = redis.Redis
_CLUSTER_UNREACHABLE: tuple[type[Exception], ...] = (RedisClusterException, *REDIS_DOWN)

_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 10}


def connect(settings: ClusterSettings) -> RedisClient:
    """A client for ``RISKSTREAM_REDIS_URL`` (AUTH and TLS come from the URL: ``rediss://``,
    ``redis://:password@host``); with ``RISKSTREAM_REDIS_CLUSTER=true``, a cluster client that
    learns the slots from that node. It reconnects by itself after a restart.

    A Redis that answers but refuses the password raises CredentialsRefusedError now: redis-py
    counts that as a ConnectionError, which the workers would otherwise retry for ever. A
    single Redis that is away is not an error here; the workers wait for it. A cluster client
    needs a node to answer to learn the slots, so a cluster that is away raises
    ServiceUnavailableError."""
    url = settings.redis_url.get_secret_value()
    if settings.redis_cluster:
        try:
            return cast(redis.Redis, RedisCluster.from_url(url, **_TIMEOUTS))
        except redis.AuthenticationError as exc:
            raise _refused(url, exc) from None
        except _CLUSTER_UNREACHABLE as exc:
            raise ServiceUnavailableError(
                "no node of the Redis Cluster answered",
                redis=mask_url_password(url),
                error=str(exc),
                hint="is the cluster up? `riskstream stack status`; or unset "
                "RISKSTREAM_REDIS_CLUSTER for a single Redis",
            ) from None
    client = redis.Redis.from_url(url, health_check_interval=30, **_TIMEOUTS)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise _refused(url, exc) from None
    except REDIS_DOWN:
        pass
    return client


def _refused(url: str, exc: Exception) -> CredentialsRefusedError:
    return CredentialsRefusedError(
        "Redis refused riskstream's credentials",
        redis=mask_url_password(url),
        error=str(exc),
        hint="check the password in RISKSTREAM_REDIS_URL (redis://:PASSWORD@host:port/db)",
    )


def as_text(value: bytes | str) -> str:
    """A key or member as Redis returned it (bytes, or str from a client that decodes) as
    text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def mget(client: RedisClient, keys: Sequence[str]) -> list[Any]:
    """MGET of keys that may live in different slots of a cluster."""
    if isinstance(client, RedisCluster):
        return list(client.mget_nonatomic(list(keys)))
    return list(client.mget(list(keys)))


# The joiner's cache of predictions waiting for their labels (stream_processors/joiner.py),
# which `riskstream publish --labels-from` reads too: under prediction:<request id>, the
# prediction's (partition, offset) and then its encoded bytes; seen:<request id> outlives it,
# so a label after the cache expired is told from one whose request never had a prediction.
CACHED_AT = struct.Struct(">iq")


def prediction_key(settings: ClusterSettings, request_id: str) -> str:
    return settings.redis_key("prediction", request_id)


def seen_key(settings: ClusterSettings, request_id: str) -> str:
    return settings.redis_key("seen", request_id)


def shadow_key(settings: ClusterSettings, request_id: str) -> str:
    """The joiner's cache of a shadow prediction's version, risk and label."""
    return settings.redis_key("shadow", request_id)


def pending_key(settings: ClusterSettings) -> str:
    """The joiner's grace set: labels that came before their prediction."""
    return settings.redis_key("joiner", "pending")


def parked_key(settings: ClusterSettings) -> str:
    """The sealed labels of the joiner's grace set, by their member in :func:`pending_key`."""
    return settings.redis_key("joiner", "parked")
