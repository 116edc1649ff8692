"""`corral proxy`: settings from the environment, the shared catalog, then serve until a signal."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pydantic

from corral import logs
from corral.catalog.url import open_catalog
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings


def run(log_level: str = "info", **overrides: Any) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code (2: bad settings).

    `overrides` are command-line options; None means "not given" (the environment decides).
    """
    logs.configure(log_level)
    log = logs.get("proxy")
    try:
        settings = ProxySettings(**{k: v for k, v in overrides.items() if v is not None})
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            log.error("bad setting", field=".".join(map(str, error["loc"])), error=error["msg"])
        return 2
    if settings.catalog_url == "memory":
        log.warning(
            "the proxy runs alone with an in-memory catalog: no sandbox will ever be routed; "
            "set CORRAL_PROXY_CATALOG_URL=redis://… (the API's catalog) or use `corral up`"
        )
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        log.error("cannot listen", host=settings.host, port=settings.port, error=str(exc))
        return 1
    return 0


async def _serve(settings: ProxySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    catalog = open_catalog(settings.catalog_url)
    try:
        async with ProxyServer(settings, catalog):
            await stop.wait()
    finally:
        await catalog.close()
