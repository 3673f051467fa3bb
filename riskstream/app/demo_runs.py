"""Each ``riskstream demo`` run in a namespace of its own: ``<prefix>demo.<run id>.`` topics,
Redis keys and registered model. A second run then starts from nothing that the first left
(its windows, alerts, trigger cooldown), and a cluster that holds other deployments' data
under other prefixes is never touched. Older demo namespaces are removed, all but the
latest, so the user can still look at the run that just ended."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from riskstream.core.errors import RiskstreamError
from riskstream.core.settings import Settings
from riskstream.io.kafka.factory import admin_client
from riskstream.io.redis_client import as_text, connect

DEMO = "demo."


def run_namespace(settings: Settings, now: float | None = None) -> Settings:
    """Settings for a new demo run: ``<prefix>demo.<yyyymmdd-hhmmss>.`` (sortable by time)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}{DEMO}{stamp}."})


def namespaces_of(topics: list[str], base_prefix: str) -> list[str]:
    """The demo namespaces (full prefixes) present among ``topics``, oldest first."""
    head = f"{base_prefix}{DEMO}"
    found = set()
    for name in topics:
        if name.startswith(head):
            rest = name[len(head) :]
            if "." in rest:
                found.add(f"{head}{rest.split('.', 1)[0]}.")
    return sorted(found)


def remove_old_runs(
    settings: Settings, keep: int = 1, echo: Callable[[str], None] = lambda _: None
) -> list[str]:
    """Delete the topics and Redis keys of every demo namespace but the ``keep`` latest."""
    topics = list(admin_client(settings).list_topics(timeout=10).topics)
    old = namespaces_of(topics, settings.topic_prefix)
    doomed = old[: max(0, len(old) - keep)]
    if not doomed:
        return []
    remove_namespaces(settings, doomed, topics)
    echo(f"removed {len(doomed)} earlier demo run(s): {', '.join(doomed)}")
    return doomed


def remove_namespaces(
    settings: Settings, prefixes: Collection[str], topics: Collection[str] | None = None
) -> tuple[int, int]:
    """Delete every topic and Redis key under these topic prefixes (a run's or a test's
    namespace): (topics, keys) deleted. One listing and one scan, however many prefixes: a
    test session removes a thousand."""
    wanted = set(prefixes)
    if not wanted:
        return 0, 0
    if not all(p.endswith(".") for p in wanted):
        raise RiskstreamError("a namespace prefix must end with a dot", given=sorted(wanted)[0])
    admin = admin_client(settings)
    if topics is None:
        topics = list(admin.list_topics(timeout=10).topics)
    names = [t for t in topics if _owned(t, wanted)]
    for i in range(0, len(names), 1000):
        for future in admin.delete_topics(names[i : i + 1000], operation_timeout=60).values():
            future.result()
    return len(names), remove_redis_namespaces(settings, wanted)


def remove_redis_namespaces(settings: Settings, prefixes: Collection[str]) -> int:
    """Delete every Redis key under these topic prefixes (each ends with a dot): how many."""
    wanted = set(prefixes)
    redis = connect(settings)
    keys = [
        key
        for key in redis.scan_iter("*riskstream:*", count=1000)
        if _owned(as_text(key).split("riskstream:", 1)[0], wanted)
    ]
    for i in range(0, len(keys), 500):
        redis.delete(*keys[i : i + 500])
    return len(keys)


def _owned(name: str, prefixes: set[str]) -> bool:
    """Whether ``name`` starts with one of ``prefixes`` (each ends with a dot): a look-up per
    dot in the name, not a comparison per prefix."""
    return any(name[: i + 1] in prefixes for i, c in enumerate(name) if c == ".")
