"""Token buckets per API key (and per client address in public-verify mode).

``RateLimiter`` keeps them in process memory: with several server processes each has its
own (the effective limit is per process). ``RedisRateLimiter`` keeps them in Redis, one
atomic script per hit, so every API process shares them; ``make_limiter`` picks it when the
service has a Redis (the queue's, or ``KINOSEAL_RATE_LIMIT_URL``). If Redis stops answering,
the limits fall back to process memory until it answers again (logged once): a rate limiter
that fails closed would take the API down with Redis.
"""

from __future__ import annotations

import logging
import math
import threading
import time

log = logging.getLogger("kinoseal.http")


class RateLimiter:
    backend = "memory"

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def hit(self, key: str, per_minute: int) -> float:
        """Take one token. Returns 0 when allowed, else the seconds to wait (Retry-After)."""
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            return (1.0 - tokens) / rate

    @staticmethod
    def retry_after(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))


# The same bucket as RateLimiter.hit, in Redis: Redis' clock, so processes on several hosts agree.
_HIT = """
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1]) or cap
local ts = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 60)
return string.format('%.6f', wait)
"""


class RedisRateLimiter(RateLimiter):
    backend = "redis"

    def __init__(self, url: str, prefix: str = "kinoseal:ratelimit:") -> None:
        super().__init__()
        from redis import Redis

        self.redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix
        self._script = self.redis.register_script(_HIT)
        self._down_since: float | None = None

    def hit(self, key: str, per_minute: int) -> float:
        if per_minute <= 0:
            return 0.0
        from redis.exceptions import RedisError

        try:
            wait = float(self._script(keys=[self.prefix + key], args=[per_minute, per_minute / 60.0]))
        except RedisError as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("rate limiter: Redis unavailable (%s); limits are per process until it is back",
                            type(exc).__name__)
            return super().hit(key, per_minute)
        if self._down_since is not None:
            self._down_since = None
            log.warning("rate limiter: Redis is back; limits are shared again")
        return wait


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else RateLimiter()
