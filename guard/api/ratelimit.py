"""Per-key rate limiting: a token bucket per key, in process memory.

Each key refills at its own rate (requests per second) and holds at most one second's worth (at
least one request) as burst. A refused request learns how long to wait (``Retry-After``, whole
seconds, rounded up) so a well-behaved client never retries too early.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def acquire(self, key_id: str, rate_per_s: float) -> int:
        """0 if the request may go ahead, else the seconds to wait before retrying."""
        capacity = max(1.0, rate_per_s)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(capacity, now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate_per_s)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / rate_per_s))
