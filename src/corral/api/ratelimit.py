"""Per-team request rate limits: a token bucket per team, refilled continuously.

In memory, per API process; a cluster with several API processes will keep the buckets in
Redis behind the same `allow` call.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, key: str, rate: float, burst: int) -> float:
        """0 when a request may pass now, else the seconds until one may (for `Retry-After`)."""
        if rate <= 0:
            return 0.0
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(burst), now)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def retry_after(seconds: float) -> str:
    """`Retry-After` in whole seconds (the SDK reads only integers), at least 1."""
    return str(max(1, math.ceil(seconds)))
