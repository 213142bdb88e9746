"""Token buckets per API key (and per client IP in public-verify mode), in process memory.

With several server processes each has its own buckets (the effective limit is
per process); a shared limiter (Redis) is the upgrade path for a fleet.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
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
