"""Team rate limits held across API processes: two API apps counting in one real Redis.

Each app is served by its own uvicorn on loopback with its own limiter and Redis connection,
as two API processes would be; both talk to the same orchestrator and database.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from corral.api.ratelimit import limiter_url
from corral.api.ratelimit_redis import DEFAULT_PREFIX, RedisRateLimiter
from corral.catalog.memory import MemoryCatalog
from tests.api.harness import Api, serve_api, serve_app
from tests.conftest import free_port
from tests.proxy.conftest import redis_url  # noqa: F401  (the session's redis-server)


@dataclass
class TwoApis:
    first: Api
    second_url: str
    redis: aioredis.Redis

    async def team(self, rate: float, burst: int) -> tuple[str, str]:
        team = await self.first.store.create_team(
            f"limited-{time.monotonic_ns()}", rate_limit_per_s=rate, rate_limit_burst=burst
        )
        _, key = await self.first.store.create_api_key(team.id, "limited")
        return team.id, key

    def clients(self, key: str) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        headers = {"X-API-KEY": key}
        return (
            httpx.AsyncClient(base_url=self.first.url, headers=headers, timeout=30),
            httpx.AsyncClient(base_url=self.second_url, headers=headers, timeout=30),
        )


@pytest.fixture
async def apis(redis_url: str, tmp_path: Path) -> AsyncIterator[TwoApis]:  # noqa: F811
    database = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    async with serve_api(database, tmp_path, rate_limit_url=redis_url) as first:
        second = first.settings.model_copy(update={"port": free_port()})
        async with serve_app(second, MemoryCatalog()) as second_url:
            client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
            try:
                yield TwoApis(first, second_url, client)
            finally:
                await client.aclose()


async def test_burst_is_shared_and_refills(apis: TwoApis) -> None:
    team_id, key = await apis.team(rate=0.5, burst=4)
    first, second = apis.clients(key)
    async with first, second:
        for _ in range(4):
            assert (await first.get("/v2/sandboxes")).status_code == 200
        limited = await second.get("/v2/sandboxes")
        assert limited.status_code == 429
        assert limited.json()["code"] == 429 and "rate limit" in limited.json()["message"]
        # the bucket is empty: one token comes back after 1 / 0.5 = 2 s
        assert limited.headers["Retry-After"] == "2"
        assert (await first.get("/v2/sandboxes")).status_code == 429

        await asyncio.sleep(int(limited.headers["Retry-After"]) + 0.05)
        assert (await second.get("/v2/sandboxes")).status_code == 200
        again = await first.get("/v2/sandboxes")  # only one token had come back
        assert again.status_code == 429 and again.headers["Retry-After"] == "2"

    # the key lives until the bucket would be full again (3.x tokens short at 0.5/s), no longer
    ttl_ms = await apis.redis.pttl(DEFAULT_PREFIX + team_id)
    assert 6_000 < ttl_ms <= math.ceil(4 / 0.5 * 1000) + 1000


async def test_concurrent_requests_take_exactly_the_burst(apis: TwoApis) -> None:
    _, key = await apis.team(rate=0.01, burst=5)
    first, second = apis.clients(key)
    async with first, second:
        answers = await asyncio.gather(
            *(client.get("/teams") for _ in range(10) for client in (first, second))
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * 5 + [429] * 15


async def test_keys_expire_once_the_bucket_is_full_again(apis: TwoApis) -> None:
    team_id, key = await apis.team(rate=10, burst=3)
    first, second = apis.clients(key)
    async with first, second:
        assert (await first.get("/teams")).status_code == 200
        assert (await second.get("/teams")).status_code == 200
    bucket = DEFAULT_PREFIX + team_id
    ttl_ms = await apis.redis.pttl(bucket)
    tokens = float(await apis.redis.hget(bucket, "tokens") or -1)
    assert 1.0 <= tokens < 3.0  # two of three taken, some refilled in between
    # until full again: (3 - tokens) / 10 s, and a second more
    assert 0 < ttl_ms <= math.ceil((3 - tokens) * 100) + 1000
    assert ttl_ms > (3 - tokens) * 100 + 1000 - 100
    await asyncio.sleep(1.3)
    assert await apis.redis.exists(bucket) == 0


async def test_limiter_uses_the_redis_clock(redis_url: str) -> None:  # noqa: F811
    limiter = RedisRateLimiter(redis_url, prefix=f"test-{time.monotonic_ns()}:")
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url)
    try:
        assert await limiter.allow("team", 1.0, 1) == 0.0
        wait = await limiter.allow("team", 1.0, 1)
        assert 0.9 < wait <= 1.0
        seconds, micros = await client.time()
        saved = float(await client.hget(f"{limiter._prefix}team", "at") or 0)
        assert abs(saved - (seconds + micros / 1e6)) < 1.0
        assert await limiter.allow("no-limit", 0, 0) == 0.0
    finally:
        await limiter.close()
        await client.aclose()


async def test_unreachable_redis_falls_back_to_per_process_limits(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with serve_api(database, tmp_path, rate_limit_url=nowhere) as api:
        team = await api.store.create_team("cut-off", rate_limit_per_s=0.01, rate_limit_burst=2)
        _, key = await api.store.create_api_key(team.id, "cut-off")
        async with api.client(key) as client:
            started = time.monotonic()
            assert [(await client.get("/teams")).status_code for _ in range(3)] == [200, 200, 429]
            assert time.monotonic() - started < 2.0  # no connect timeout per request


def test_limiter_url_defaults_to_the_catalogs_redis() -> None:
    shared = "redis://redis.cluster.example:6379/1"
    assert limiter_url("", "memory") == "memory"
    assert limiter_url("", shared) == shared
    assert limiter_url("memory", shared) == "memory"
    assert limiter_url("redis://127.0.0.1:6380/0", "memory") == "redis://127.0.0.1:6380/0"
