"""`corral proxy`: settings from the environment, the shared catalog, then serve until a signal.

With the API's URL and internal secret (`CORRAL_PROXY_API_URL`, `CORRAL_PROXY_API_SECRET`),
traffic for a paused sandbox with auto-resume wakes it through the API (apiwake.py); without
them such traffic is answered "paused", as in E2B without `autoResume`.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pydantic

from corral import logs
from corral.catalog.url import open_catalog
from corral.proxy.apiwake import ApiWaker
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


def api_waker(settings: ProxySettings) -> ApiWaker | None:
    """The auto-resume hook when the API's URL and secret are both set; None (and a log line
    saying auto-resume is off) otherwise."""
    log = logs.get("proxy")
    if settings.api_url and settings.api_secret is not None:
        log.info("auto-resume through the API", api_url=settings.api_url)
        return ApiWaker(
            settings.api_url, settings.api_secret.get_secret_value(), timeout=settings.api_timeout
        )
    half_set = bool(settings.api_url) != (settings.api_secret is not None)
    (log.warning if half_set else log.info)(
        "auto-resume is off: paused sandboxes are answered as paused; set both"
        " CORRAL_PROXY_API_URL and CORRAL_PROXY_API_SECRET to wake them through the API"
    )
    return None


async def _serve(settings: ProxySettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    catalog = open_catalog(settings.catalog_url)
    waker = api_waker(settings)
    try:
        async with ProxyServer(settings, catalog, wake_paused=waker):
            await stop.wait()
    finally:
        if waker is not None:
            await waker.aclose()
        await catalog.close()
