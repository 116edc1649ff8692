"""The proxy as an ASGI application: route each request, then forward it or refuse it.

A plain ASGI callable rather than a Starlette/FastAPI app: the proxy has one route ("every
path") and every layer in front of the forwarder is paid on each of the SDK's requests.
Routing happens per request, not per connection: one keep-alive connection (or h2 connection)
from the SDK may carry requests for many sandboxes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from corral import logs
from corral.catalog.types import Route, RoutingCatalog
from corral.proxy.errors import (
    JSON_HEADERS,
    ClientDisconnected,
    ProxyError,
    RoutingUnavailable,
    SandboxNotFound,
    SandboxPaused,
    TrafficTokenRejected,
)
from corral.proxy.forward import HttpForwarder, upstream_pool
from corral.proxy.routing import ENVD_PORT, Router, Target
from corral.proxy.settings import ProxySettings
from corral.proxy.types import Receive, Scope, Send
from corral.proxy.websocket import WebSocketForwarder

log = logs.get("proxy")

WakePaused = Callable[[Route], Awaitable[Route | None]]
"""Auto-resume hook: resume the paused sandbox of `route` and return its running route, or
None when it cannot be resumed. Without one, requests to a paused sandbox get `SandboxPaused`."""

TRAFFIC_TOKEN_HEADER = b"e2b-traffic-access-token"


class ProxyApp:
    """Routes by Host or E2B headers through the catalog to `route.address:port`."""

    def __init__(
        self,
        catalog: RoutingCatalog,
        settings: ProxySettings,
        *,
        wake_paused: WakePaused | None = None,
    ) -> None:
        self.catalog = catalog
        self._router = Router(settings.domain)
        self._pool = upstream_pool(settings)
        self._http = HttpForwarder(self._pool, settings)
        self._websocket = WebSocketForwarder(settings)
        self._wake_paused = wake_paused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            try:
                target = self._router.target(scope["headers"])
                route = await self._route(target)
                _check_traffic_token(scope, target, route)
                if kind == "http":
                    await self._http(scope, receive, send, target, route.address)
                else:
                    await self._websocket(scope, receive, send, target, route.address)
            except ProxyError as exc:
                await _refuse(scope, send, exc)
            except ClientDisconnected:
                return
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _route(self, target: Target) -> Route:
        try:
            route = await self.catalog.get(target.sandbox_id)
        except Exception as exc:
            log.error("catalog lookup failed", sandbox_id=target.sandbox_id, error=repr(exc))
            raise RoutingUnavailable(target.sandbox_id) from exc
        if route is None:
            raise SandboxNotFound(target.sandbox_id)
        if route.state == "paused":
            route = await self.resume_paused(route)
        return route

    async def resume_paused(self, route: Route) -> Route:
        """The auto-resume hook point: a paused sandbox's route becomes a running one here."""
        if self._wake_paused is None:
            raise SandboxPaused(route.sandbox_id)
        woken = await self._wake_paused(route)
        if woken is None:
            raise SandboxPaused(route.sandbox_id)
        return woken

    async def aclose(self) -> None:
        """Close pooled upstream connections (the catalog belongs to the caller)."""
        await self._pool.aclose()


def _check_traffic_token(scope: Scope, target: Target, route: Route) -> None:
    """E2B's "secured" sandboxes: ports other than envd's need the traffic access token."""
    expected = route.traffic_access_token
    if expected is None or target.port == ENVD_PORT:
        return
    header = TRAFFIC_TOKEN_HEADER.decode()
    for name, value in scope["headers"]:
        if name == TRAFFIC_TOKEN_HEADER:
            if hmac.compare_digest(value, expected.encode()):
                return
            raise TrafficTokenRejected(
                "Sandbox is secured with traffic access token. "
                f"Provided token in header '{header}' is invalid",
                sandbox_id=target.sandbox_id,
            )
    raise TrafficTokenRejected(
        f"Sandbox is secured with traffic access token. Token header '{header}' is missing",
        sandbox_id=target.sandbox_id,
    )


async def _refuse(scope: Scope, send: Send, exc: ProxyError) -> None:
    """The one place a proxy error becomes a response, for HTTP and WebSocket alike."""
    body = exc.encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {"type": "websocket.http.response.start", "status": exc.status, "headers": headers}
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1011, "reason": exc.message[:120]})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up: the server runner owns the pool and the caller owns the catalog."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def build_proxy_app(
    catalog: RoutingCatalog, settings: ProxySettings, *, wake_paused: WakePaused | None = None
) -> ProxyApp:
    """The proxy's ASGI app; call `aclose()` on it when done to drop pooled connections."""
    return ProxyApp(catalog, settings, wake_paused=wake_paused)
