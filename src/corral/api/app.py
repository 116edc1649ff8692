"""The control plane's FastAPI application and what it owns for its lifetime.

On start it migrates the database, opens the node clients and reconciles the routing catalog
with what the nodes run, then keeps it reconciled (`routesync.py`): a restarted API (or a fresh
in-memory catalog) routes to everything that kept running, and sandboxes that a node ended on
its own stop being routed. `corral up` passes its own catalog so the proxy in the same
process reads what this API writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from corral import __version__, logs
from corral.api import errors, openapi
from corral.api.context import ApiContext
from corral.api.db.database import Database
from corral.api.db.store import Store
from corral.api.guards import RequestGuard
from corral.api.nodes import NodeDirectory, Placement, StaticNodes
from corral.api.ratelimit import limiter_url, open_limiter
from corral.api.routes import (
    builds,
    health,
    internal,
    lifecycle,
    metrics,
    sandboxes,
    snapshots,
    tags,
    teams,
    templates,
)
from corral.api.routes import logs as sandbox_logs
from corral.api.routesync import keep_in_sync, reconcile
from corral.api.settings import ApiSettings
from corral.api.template_builds import BuildWatchers
from corral.catalog.types import RoutingCatalog
from corral.catalog.url import open_catalog

log = logs.get("api")


def create_app(
    settings: ApiSettings | None = None,
    *,
    catalog: RoutingCatalog | None = None,
    nodes: NodeDirectory | None = None,
) -> FastAPI:
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.database)
        await database.upgrade()
        directory = nodes or StaticNodes(settings)
        ctx = ApiContext(
            settings=settings,
            database=database,
            store=Store(database),
            nodes=directory,
            catalog=catalog if catalog is not None else open_catalog(settings.catalog_url),
            placement=Placement(directory),
            limiter=open_limiter(limiter_url(settings.rate_limit_url, settings.catalog_url)),
        )
        app.state.ctx = ctx
        ctx.build_watchers = BuildWatchers(ctx)
        await ctx.build_watchers.resume()
        written, _ = await reconcile(directory, ctx.catalog)
        sync = asyncio.create_task(
            keep_in_sync(directory, ctx.catalog, settings.catalog_sync_interval)
        )
        log.info("api ready", nodes=len(directory.nodes()), routes=written)
        try:
            yield
        finally:
            await ctx.build_watchers.close()
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync
            if nodes is None:
                await directory.close()
            if catalog is None:
                await ctx.catalog.close()
            await ctx.limiter.close()
            await database.dispose()

    app = FastAPI(
        title="Corral API",
        version=__version__,
        description="E2B-compatible control plane: sandboxes, templates, teams and API keys.",
        lifespan=lifespan,
    )
    errors.install(app)
    openapi.install(app)
    app.include_router(tags.router)  # before templates': `DELETE /templates/tags` is no template
    # metrics first: `/sandboxes/metrics` must not be taken for a sandbox id.
    routers = (
        health,
        metrics,
        sandboxes,
        lifecycle,
        snapshots,
        sandbox_logs,
        builds,
        templates,
        teams,
    )
    for module in routers:
        app.include_router(module.router)
    if settings.internal_secret is not None:  # standalone proxies' auto-resume
        app.include_router(internal.router)
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes)
    return app
