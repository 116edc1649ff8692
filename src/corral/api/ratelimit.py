"""Per-team request rate limits: a token bucket per team, refilled continuously.

`RateLimiter` is what `deps.current_team` calls on every authenticated request. Two live
behind it: `MemoryRateLimiter`, the buckets of this process (one API process, `corral up`),
and `RedisRateLimiter` (`ratelimit_redis.py`), one bucket per team shared by every API process
that names the same Redis, so a team's limit holds however many processes serve it. Which one
an API uses is `CORRAL_API_RATE_LIMIT_URL` (see `open_limiter`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from corral.catalog.url import REDIS_SCHEMES


class RateLimiter(Protocol):
    async def allow(self, key: str, rate: float, burst: int) -> float:
        """0 when a request may pass now (and takes a token), else the seconds until one may
        (for `Retry-After`). `rate` tokens per second refill a bucket of `burst`; a rate of 0
        or less means no limit."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class MemoryRateLimiter:
    """The buckets of this process: the limit holds per API process only."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    async def allow(self, key: str, rate: float, burst: int) -> float:
        return self.take(key, rate, burst)

    def take(self, key: str, rate: float, burst: int) -> float:
        """`allow` without awaiting: also the Redis limiter's fallback while Redis is away."""
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

    async def close(self) -> None:
        """Nothing to release; kept so every limiter closes the same way."""


def limiter_url(rate_limit_url: str, catalog_url: str) -> str:
    """The limiter a setting names; empty: the catalog's Redis when the catalog is in Redis
    (several API processes share it then), else memory."""
    if rate_limit_url:
        return rate_limit_url
    return catalog_url if catalog_url.startswith(REDIS_SCHEMES) else "memory"


def open_limiter(url: str) -> RateLimiter:
    """A new limiter for `url`: `memory`, or a `redis://` / `rediss://` / `unix://` URL."""
    if url == "memory":
        return MemoryRateLimiter()
    if url.startswith(REDIS_SCHEMES):
        from corral.api.ratelimit_redis import RedisRateLimiter

        return RedisRateLimiter(url)
    raise ValueError(f"unknown rate limit URL {url!r}: use 'memory' or a redis:// URL")


def retry_after(seconds: float) -> str:
    """`Retry-After` in whole seconds (the SDK reads only integers), at least 1."""
    return str(max(1, math.ceil(seconds)))
