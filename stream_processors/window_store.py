"""Monitor windows in Redis: atomic, replay-safe updates and one closer per window.

Keys (all under the deployment prefix, all expiring after ``ttl``):

- ``riskstream:window:<version>:<start>``: hash of counts (``n``, ``f:<feature>:<bin>``,
  ``s:<bin>``): about 100 fields, a few kB per window;
- ``riskstream:window:<version>:<start>:offsets``: partition → last offset applied;
- ``riskstream:window:<version>:<start>:closed``: set once, by the worker that closes it;
- ``riskstream:windows:<version>``: sorted set of window starts still open;
- ``riskstream:drifting:<version>``: features currently in drift (hysteresis state).

An update applies only if the partition's last applied offset is still what the worker read
(compare-and-set in one Lua script), and the worker counts only records past that offset, so a
batch replayed after a crash or a rebalance is never counted twice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from riskstream.settings import Settings

APPLY = """
local last = redis.call('HGET', KEYS[2], ARGV[1])
if not last then last = '-1' end
if last ~= ARGV[2] then return 0 end
for i = 6, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[5])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
"""


class WindowStore:
    def __init__(self, settings: Settings, ttl_s: int = 24 * 3600) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url.get_secret_value())
        self.ttl_s = ttl_s
        self._apply = self.redis.register_script(APPLY)

    def window_key(self, version: str, start: int) -> str:
        return self.settings.redis_key("window", version, start)

    def _index_key(self, version: str) -> str:
        return self.settings.redis_key("windows", version)

    def last_applied(self, version: str, start: int, partition: int) -> int:
        value = self.redis.hget(f"{self.window_key(version, start)}:offsets", str(partition))
        return int(value) if value is not None else -1

    def apply(
        self,
        version: str,
        start: int,
        partition: int,
        expected_last: int,
        new_last: int,
        fields: Counter[str],
    ) -> bool:
        """Add ``fields`` if the partition's last applied offset is still ``expected_last``."""
        key = self.window_key(version, start)
        args: list[Any] = [partition, expected_last, new_last, self.ttl_s, start]
        for name, count in fields.items():
            args += [name, count]
        return bool(self._apply(keys=[key, f"{key}:offsets", self._index_key(version)], args=args))

    def closable(self, version: str, before_start: int) -> list[int]:
        """Open windows that started before ``before_start``."""
        starts = self.redis.zrangebyscore(self._index_key(version), "-inf", f"({before_start}")
        return [int(s) for s in starts]

    def claim_close(self, version: str, start: int) -> bool:
        """True for exactly one worker per window: the one that closes it."""
        key = f"{self.window_key(version, start)}:closed"
        claimed = bool(self.redis.set(key, b"1", nx=True, ex=self.ttl_s))
        self.redis.zrem(self._index_key(version), start)
        return claimed

    def counts(self, version: str, start: int) -> dict[bytes, bytes]:
        return dict(self.redis.hgetall(self.window_key(version, start)))

    def drifting(self, version: str) -> frozenset[str]:
        members = self.redis.smembers(self.settings.redis_key("drifting", version))
        return frozenset(m.decode() for m in members)

    def set_drifting(self, version: str, features: set[str]) -> None:
        key = self.settings.redis_key("drifting", version)
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if features:
            pipe.sadd(key, *sorted(features))
            pipe.expire(key, self.ttl_s)
        pipe.execute()
