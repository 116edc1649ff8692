"""MemoryCatalog and RedisCatalog behave the same (Redis: a real redis-server on loopback)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from corral.catalog.memory import MemoryCatalog
from corral.catalog.redis import RedisCatalog, route_from_json, route_to_json
from corral.catalog.types import Route, RoutingCatalog
from corral.catalog.url import open_catalog


@pytest.fixture(params=["memory", "redis"])
async def catalog(request: pytest.FixtureRequest) -> AsyncIterator[RoutingCatalog]:
    if request.param == "memory":
        made: RoutingCatalog = MemoryCatalog()
    else:
        made = RedisCatalog(request.getfixturevalue("redis_url"), prefix="test-catalog:")
    yield made
    await made.close()


async def test_put_get_replace_delete(catalog: RoutingCatalog) -> None:
    route = Route(sandbox_id="sbx1", address="10.11.0.2", node_id="n1")
    assert await catalog.get("sbx1") is None
    await catalog.put(route)
    assert await catalog.get("sbx1") == route
    paused = Route(
        sandbox_id="sbx1", address="10.11.0.2", node_id="n1", state="paused",
        traffic_access_token="tat",
    )  # fmt: skip
    await catalog.put(paused)
    assert await catalog.get("sbx1") == paused
    await catalog.delete("sbx1")
    assert await catalog.get("sbx1") is None
    await catalog.delete("sbx1")  # unknown ids are fine


async def test_redis_values_are_json_under_the_prefix(redis_url: str) -> None:
    catalog = RedisCatalog(redis_url, prefix="test-json:")
    raw = aioredis.Redis.from_url(redis_url)
    try:
        await catalog.put(Route(sandbox_id="sbx2", address="10.11.0.3"))
        stored = json.loads(await raw.get("test-json:sbx2"))
        assert stored["address"] == "10.11.0.3"
        # A newer API may publish fields this proxy does not know: they are ignored.
        await raw.set("test-json:sbx3", json.dumps({"sandbox_id": "sbx3", "address": "a", "x": 1}))
        assert await catalog.get("sbx3") == Route(sandbox_id="sbx3", address="a")
    finally:
        await raw.aclose()
        await catalog.close()


def test_route_json_round_trip() -> None:
    route = Route(sandbox_id="s", address="a", node_id="n", state="paused")
    assert route_from_json(route_to_json(route)) == route


async def test_open_catalog_by_url(redis_url: str) -> None:
    assert isinstance(open_catalog("memory"), MemoryCatalog)
    redis_catalog = open_catalog(redis_url)
    assert isinstance(redis_catalog, RedisCatalog)
    await redis_catalog.close()
    with pytest.raises(ValueError, match="unknown catalog URL"):
        open_catalog("postgres://nope")
