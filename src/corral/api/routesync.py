"""Keeping the routing catalog equal to what the nodes run.

The API publishes and withdraws routes as it acts, but nodes also end sandboxes on their own
(timeouts, sandboxes that died), and a restarted API or a fresh in-memory catalog knows nothing.
So the catalog is reconciled on start and then every `interval` seconds: routes are added or
corrected for every sandbox a node reports, and removed for sandboxes their node no longer has.
Routes of a node that does not answer are left alone: an unreachable node is not an empty one.
"""

from __future__ import annotations

import asyncio
import contextlib

from corral import logs
from corral.api.nodes import NodeDirectory
from corral.catalog.types import Route, RoutingCatalog

log = logs.get("api.routesync")


async def reconcile(nodes: NodeDirectory, catalog: RoutingCatalog) -> tuple[int, int]:
    """One pass; returns (routes written, routes removed)."""
    wanted: dict[str, Route] = {}
    answered: set[str] = set()
    for node in nodes.nodes():
        try:
            sandboxes = await node.client.list()
        except Exception as exc:
            log.warning("node did not answer", node=node.id, error=str(exc))
            continue
        answered.add(node.id)
        for s in sandboxes:
            wanted[s.sandbox_id] = Route(s.sandbox_id, s.address, node.id, s.state)
    present = {route.sandbox_id: route for route in await catalog.routes()}
    written = removed = 0
    for sandbox_id, route in wanted.items():
        if present.get(sandbox_id) != route:
            await catalog.put(route)
            written += 1
    for sandbox_id, route in present.items():
        if sandbox_id not in wanted and route.node_id in answered:
            await catalog.delete(sandbox_id)
            removed += 1
    return written, removed


async def keep_in_sync(nodes: NodeDirectory, catalog: RoutingCatalog, interval: float) -> None:
    """Reconcile forever (a background task of the API)."""
    while True:
        await asyncio.sleep(interval)
        with contextlib.suppress(Exception):
            written, removed = await reconcile(nodes, catalog)
            if written or removed:
                log.info("routes reconciled", written=written, removed=removed)
