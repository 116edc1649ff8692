"""Run the proxy app on a socket: uvicorn for plain HTTP, hypercorn for TLS (h2 + HTTP/1.1).

Both are pure-Python h11 servers for HTTP/1.1; uvicorn's costs less per request (see the report
in tests/proxy/test_overhead.py), hypercorn is the one that speaks h2, which the SDK negotiates
over TLS by ALPN. `ProxyServer` never touches signal handlers or the event loop policy, so it
runs inside another program's loop (`corral up`); `corral proxy` wraps it with signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from corral import logs
from corral.catalog.types import RoutingCatalog
from corral.proxy.apihost import ApiHost
from corral.proxy.app import ProxyApp, WakePaused, build_proxy_app
from corral.proxy.settings import ProxySettings
from corral.proxy.types import ASGIApp

log = logs.get("proxy")

SHUTDOWN_GRACE = 5.0
"""Seconds open streams get to finish when the proxy stops; then they are cut."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; bound here so errors raise (servers would exit) and port 0 works."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class ProxyServer:
    """The proxy listening on `settings.host:settings.port` until `stop()`.

    With `api`, requests for `api.{settings.domain}` are served by that ASGI app instead
    (`corral up --domain`: one HTTPS port for E2B_DOMAIN, see apihost.py).
    """

    def __init__(
        self,
        settings: ProxySettings,
        catalog: RoutingCatalog,
        *,
        wake_paused: WakePaused | None = None,
        api: ASGIApp | None = None,
    ) -> None:
        self.settings = settings
        self.app: ProxyApp = build_proxy_app(catalog, settings, wake_paused=wake_paused)
        self._asgi: ASGIApp = self.app
        if api is not None:
            if not settings.domain:
                raise ValueError("serving the API by host needs the proxy's domain")
            self._asgi = ApiHost(settings.domain, api, self.app)
        self.port = settings.port
        self._uvicorn: Any = None
        self._sock: socket.socket | None = None
        self._hypercorn: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def engine(self) -> str:
        if self.settings.server != "auto":
            return self.settings.server
        return "hypercorn" if self.settings.tls else "uvicorn"

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        """Listen; connections are accepted from the moment this returns."""
        sock = bind(self.settings.host, self.settings.port)
        self.port = sock.getsockname()[1]
        if self.engine == "uvicorn":
            if self.settings.tls:
                raise ValueError("TLS needs hypercorn (h2): set CORRAL_PROXY_SERVER=hypercorn")
            await self._start_uvicorn(sock)
        else:
            self._start_hypercorn(sock)
        log.info("proxy listening", url=self.url, engine=self.engine)

    async def _start_uvicorn(self, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(
            self._asgi,
            http="h11",
            ws="wsproto",  # finishes refused handshakes cleanly (websockets-sansio logs errors)
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_keep_alive=int(self.settings.client_keepalive_timeout),
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
            server_header=False,
            date_header=False,
            ws_max_size=self.settings.websocket_max_message,
            proxy_headers=False,
        )
        config.load()
        server = uvicorn.Server(config)
        # `Server.serve()` would take over SIGINT/SIGTERM for the whole process; its parts
        # (startup, shutdown) do not. `_serve()` sets `lifespan` before calling them.
        server.lifespan = config.lifespan_class(config)
        self._sock = sock
        await server.startup(sockets=[sock])
        self._uvicorn = server

    def _start_hypercorn(self, sock: socket.socket) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        # Hypercorn takes ownership of the descriptor (and closes it on shutdown).
        config.bind = [f"fd://{sock.detach()}"]
        if self.settings.tls_cert is not None and self.settings.tls_key is not None:
            config.certfile = str(self.settings.tls_cert)
            config.keyfile = str(self.settings.tls_key)
            config.alpn_protocols = ["h2", "http/1.1"]
        config.keep_alive_timeout = self.settings.client_keepalive_timeout
        config.graceful_timeout = SHUTDOWN_GRACE
        config.include_server_header = False
        config.include_date_header = False
        config.websocket_max_message_size = self.settings.websocket_max_message
        config.accesslog = None
        config.errorlog = "-"
        config.loglevel = "WARNING"
        app: Any = self._asgi
        self._hypercorn = asyncio.create_task(
            serve(app, config, shutdown_trigger=self._stopping.wait, mode="asgi"),
            name="corral-proxy-hypercorn",
        )

    async def stop(self) -> None:
        """Stop listening, give open requests `SHUTDOWN_GRACE` seconds, close upstreams."""
        try:
            if self._uvicorn is not None:
                server, self._uvicorn = self._uvicorn, None
                server.should_exit = True
                await server.shutdown(sockets=[self._sock] if self._sock else None)
                if self._sock is not None:
                    self._sock.close()
            if self._hypercorn is not None:
                task, self._hypercorn = self._hypercorn, None
                self._stopping.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await self.app.aclose()

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve_proxy(
    settings: ProxySettings,
    catalog: RoutingCatalog,
    *,
    wake_paused: WakePaused | None = None,
    api: ASGIApp | None = None,
) -> None:
    """Serve until cancelled; for running the proxy as one task of a bigger process."""
    async with ProxyServer(settings, catalog, wake_paused=wake_paused, api=api):
        await asyncio.Event().wait()
