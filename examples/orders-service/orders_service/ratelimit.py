"""Token-bucket rate limit on writes, per token subject.

One bucket per subject: refills at ``per_minute / 60`` tokens a second up to
``per_minute``. ``RateLimiter`` keeps the buckets in process memory, enough for one
process. ``SharedRateLimiter`` keeps them in a SQLite file that every worker process of
one start opens (``orders_service.serve`` makes it), so two workers grant the quota once,
not twice. Several machines would need a store they share (PostgreSQL, Redis).
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from orders_service.errors import ApiError


class RateLimiter:
    """Token buckets per key, refilled continuously from ``clock``."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.RLock()  # SharedRateLimiter holds it around the base class's take

    def take(self, key: str) -> None:
        """Spend one token for ``key`` or raise 429 with Retry-After."""
        now = self._clock()
        with self._lock:
            tokens, last = self._load(key, now)
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            if tokens < 1.0:
                self._store(key, tokens, now)
                raise self._refusal(tokens)
            self._store(key, tokens - 1.0, now)

    def _refusal(self, tokens: float) -> ApiError:
        retry_after = math.ceil((1.0 - tokens) / self.refill_per_s)
        return ApiError(429, "rate_limited", "Too many write requests; slow down.",
                        {"retry_after_s": retry_after}, headers={"Retry-After": str(retry_after)})

    def _load(self, key: str, now: float) -> tuple[float, float]:
        return self._buckets.get(key, (self.capacity, now))

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)


class SharedRateLimiter(RateLimiter):
    """The same buckets in a SQLite file, so that every worker process of a start shares them.

    Each take is one immediate transaction: a second worker waits for the first, so a token is
    never spent twice. ``clock`` must be the same for every process (CLOCK_MONOTONIC is, on one
    machine).
    """

    def __init__(self, per_minute: int, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(per_minute, clock)
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL, last REAL)")

    def take(self, key: str) -> None:
        """Spend one token for ``key`` in one transaction across the processes, or raise 429."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                super().take(key)
            finally:
                self._db.execute("COMMIT")

    def _load(self, key: str, now: float) -> tuple[float, float]:
        row = self._db.execute("SELECT tokens, last FROM buckets WHERE key = ?", (key,)).fetchone()
        return (float(row[0]), float(row[1])) if row else (self.capacity, now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO buckets (key, tokens, last) VALUES (?, ?, ?)", (key, tokens, now))
