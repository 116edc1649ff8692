"""The routing catalog in Redis, for when the API and the proxies are separate processes.

One string key per sandbox (`<prefix><sandbox id>`) holding the route as JSON: a lookup is a
single `GET`, the cheapest round trip Redis offers, and the proxy does one per request. Unknown
JSON fields are ignored when reading, so an API that publishes a newer `Route` does not break
older proxies during a rolling upgrade.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import redis.asyncio as aioredis

from corral.catalog.types import Route

DEFAULT_PREFIX = "corral:route:"
_FIELDS = frozenset(field.name for field in dataclasses.fields(Route))


def route_to_json(route: Route) -> bytes:
    return json.dumps(dataclasses.asdict(route), separators=(",", ":")).encode()


def route_from_json(raw: bytes | str) -> Route:
    data: dict[str, Any] = json.loads(raw)
    return Route(**{key: value for key, value in data.items() if key in _FIELDS})


class RedisCatalog:
    """Routes shared through one Redis database (URL such as `redis://host:6379/0`)."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._prefix = prefix

    def _key(self, sandbox_id: str) -> str:
        return self._prefix + sandbox_id

    async def put(self, route: Route) -> None:
        await self._redis.set(self._key(route.sandbox_id), route_to_json(route))

    async def get(self, sandbox_id: str) -> Route | None:
        raw = await self._redis.get(self._key(sandbox_id))
        if raw is None:
            return None
        return route_from_json(raw)

    async def delete(self, sandbox_id: str) -> None:
        await self._redis.delete(self._key(sandbox_id))

    async def routes(self) -> list[Route]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=500)]
        if not keys:
            return []
        return [route_from_json(raw) for raw in await self._redis.mget(keys) if raw is not None]

    async def close(self) -> None:
        await self._redis.aclose()
