"""Team rate limits shared by every API process through one Redis.

Each team's bucket is one hash (`<prefix><team id>`: `tokens`, `at`) updated by a Lua script,
so taking a token is one atomic round trip however many processes ask at once. The clock is
Redis's own `TIME`, not the caller's: API processes on different hosts then agree on how much a
bucket has refilled even when their clocks do not. A bucket expires once it would be full
again (`burst - tokens` over `rate` seconds, plus a second), where a missing key means exactly
the same thing, so idle teams leave nothing behind.

When Redis cannot be reached the limiter fails open, but not wide open: requests are counted
against this process's own buckets (`MemoryRateLimiter`), so a team gets at most its limit per
API process instead of none, and no request is refused because Redis is away. One warning is
logged when that starts and one line when Redis answers again; Redis is not asked again for
`retry_seconds` after a failure, so an outage does not add a connect timeout to every request.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from corral import logs
from corral.api.ratelimit import MemoryRateLimiter

log = logs.get("api.ratelimit")

DEFAULT_PREFIX = "corral:rate:"

# KEYS[1]: the bucket; ARGV: rate (tokens per second), burst. Returns the seconds to wait
# (0: allowed) as a string, since Redis truncates Lua numbers to integers. `%.17g` and `%.6f`
# keep doubles and microsecond clocks exact (Lua's tostring keeps only 14 digits).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
if tokens == nil then
  tokens = burst
else
  local at = tonumber(saved[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(0, burst - tokens) / rate * 1000) + 1000)
return string.format('%.17g', wait)
"""


class RedisRateLimiter:
    """Token buckets in Redis (URL such as `redis://host:6379/0`), one per team."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout: float = 0.5,
        retry_seconds: float = 1.0,
    ) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout
        )
        self._take = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        self._fallback = MemoryRateLimiter()
        self._down_until: float | None = None
        """While set, Redis failed: not asked again before this `time.monotonic()`."""

    async def allow(self, key: str, rate: float, burst: int) -> float:
        if rate <= 0:
            return 0.0
        if self._down_until is not None and time.monotonic() < self._down_until:
            return self._fallback.take(key, rate, burst)
        try:
            wait = await self._take(keys=[self._prefix + key], args=[repr(float(rate)), burst])
        except (RedisError, OSError) as exc:
            if self._down_until is None:
                log.warning(
                    "redis unreachable: rate limits held per API process until it answers",
                    error=str(exc) or type(exc).__name__,
                )
            self._down_until = time.monotonic() + self._retry_seconds
            return self._fallback.take(key, rate, burst)
        if self._down_until is not None:
            log.info("redis answers again: rate limits shared across API processes")
            self._down_until = None
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()
