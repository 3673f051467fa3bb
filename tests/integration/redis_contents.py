"""What a deployment keeps in Redis, read back whole: for tests that scan every byte."""

from __future__ import annotations

import redis

from riskstream.core.settings import Settings


def held_in_redis(settings: Settings) -> dict[bytes, list[bytes]]:
    """Every key of ``settings``'s deployment (its topic prefix), with its values: a hash's
    fields and values, a set's or sorted set's members, a list's items."""
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    held: dict[bytes, list[bytes]] = {}
    for name in client.scan_iter(match=f"*{settings.topic_prefix}*", count=1000):
        kind = client.type(name)
        if kind == b"string":
            held[name] = [client.get(name) or b""]
        elif kind == b"hash":
            held[name] = [k + v for k, v in client.hgetall(name).items()]
        elif kind == b"set":
            held[name] = list(client.smembers(name))
        elif kind == b"zset":
            held[name] = list(client.zrange(name, 0, -1))
        elif kind == b"list":
            held[name] = list(client.lrange(name, 0, -1))
        else:
            held[name] = []
    return held
