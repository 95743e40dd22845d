"""Token-bucket rate limit on writes, per token subject, in process memory.

One bucket per subject: refills at ``per_minute / 60`` tokens a second up to
``per_minute``. In-process is enough for one instance; several instances would
need a shared store.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from orders_service.errors import ApiError


class RateLimiter:
    """Token buckets per key, refilled continuously from ``clock``."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token for ``key`` or raise 429 with Retry-After."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            if tokens < 1.0:
                retry_after = math.ceil((1.0 - tokens) / self.refill_per_s)
                self._buckets[key] = (tokens, now)
                raise ApiError(429, "rate_limited", "Too many write requests; slow down.",
                               {"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)})
            self._buckets[key] = (tokens - 1.0, now)
