"""The routing catalog inside one process: a dict, for `corral up` and tests.

Routes are immutable dataclasses, so readers get a consistent snapshot without locks: the event
loop runs one coroutine at a time and a dict assignment is atomic.
"""

from __future__ import annotations

from corral.catalog.types import Route


class MemoryCatalog:
    """Routes held in this process; the API writes them and an in-process proxy reads them."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    async def put(self, route: Route) -> None:
        self._routes[route.sandbox_id] = route

    async def get(self, sandbox_id: str) -> Route | None:
        return self._routes.get(sandbox_id)

    async def delete(self, sandbox_id: str) -> None:
        self._routes.pop(sandbox_id, None)

    async def routes(self) -> list[Route]:
        return list(self._routes.values())

    async def close(self) -> None:
        """Nothing to release; kept so every catalog closes the same way."""

    def __len__(self) -> int:
        return len(self._routes)
