"""What the catalog stores about a sandbox, and the interface every catalog implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Route:
    """How to reach one sandbox: its node's address for it (the sandbox's own IP on that host)."""

    sandbox_id: str
    address: str
    """Host (IP) where every port of the sandbox is reached, e.g. envd at `address:49983`."""
    node_id: str = ""
    state: str = "running"
    """`running`, or `paused` (the proxy then wakes it through its auto-resume hook, if any)."""
    traffic_access_token: str | None = None
    """When set, requests to ports other than envd's must carry `E2B-Traffic-Access-Token`."""


class RoutingCatalog(Protocol):
    async def put(self, route: Route) -> None:
        """Publish or replace the route of `route.sandbox_id`."""
        ...

    async def get(self, sandbox_id: str) -> Route | None: ...

    async def delete(self, sandbox_id: str) -> None:
        """Withdraw a route; unknown ids are fine."""
        ...

    async def routes(self) -> list[Route]:
        """Every route (for reconciling the catalog with what the nodes run)."""
        ...

    async def close(self) -> None: ...
