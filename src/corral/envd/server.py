"""envd's HTTP server: uvicorn's h11 protocol on asyncio, configured as E2B's envd serves.

Import it after `lean.prepare()`, which keeps uvicorn's command line out of the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.server import Server

KEEP_ALIVE_SECONDS = 75
"""Idle keep-alive connections are closed after this (Go's `net/http` default, as in E2B)."""


def build_server(app: Any, host: str, port: int) -> Server:
    """uvicorn's server for `app`; `server.run()` serves until SIGINT or SIGTERM."""
    from uvicorn.config import Config
    from uvicorn.server import Server

    config = Config(
        app,
        host=host,
        port=port,
        http="h11",
        ws="none",  # E2B's envd has no WebSocket endpoint (and "auto" imports a library)
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
        date_header=False,
    )
    return Server(config)
