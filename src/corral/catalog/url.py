"""Open the catalog a setting names: `memory` or a `redis://` / `rediss://` / `unix://` URL."""

from __future__ import annotations

from corral.catalog.types import RoutingCatalog

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_catalog(url: str) -> RoutingCatalog:
    """A new catalog for `url`; `memory` is private to this process (share the object instead)."""
    if url == "memory":
        from corral.catalog.memory import MemoryCatalog

        return MemoryCatalog()
    if url.startswith(REDIS_SCHEMES):
        from corral.catalog.redis import RedisCatalog

        return RedisCatalog(url)
    raise ValueError(f"unknown catalog URL {url!r}: use 'memory' or a redis:// URL")
