"""The proxy as an ASGI application: route each request, then forward it or refuse it.

A plain ASGI callable rather than a Starlette/FastAPI app: the proxy has one route ("every
path") and every layer in front of the forwarder is paid on each of the SDK's requests.
Routing happens per request, not per connection: one keep-alive connection (or h2 connection)
from the SDK may carry requests for many sandboxes.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from corral import logs
from corral.catalog.types import Route, RoutingCatalog
from corral.proxy.errors import (
    JSON_HEADERS,
    ClientDisconnected,
    ProxyError,
    ResumeFailed,
    RoutingUnavailable,
    SandboxNotFound,
    SandboxPaused,
    TrafficTokenRejected,
)
from corral.proxy.forward import HttpForwarder, Relocate, upstream_pool
from corral.proxy.routing import ENVD_PORT, Router, Target
from corral.proxy.settings import ProxySettings
from corral.proxy.types import Receive, Scope, Send
from corral.proxy.websocket import WebSocketForwarder

log = logs.get("proxy")


@dataclass(frozen=True, slots=True)
class WakeRequest:
    """A request that found its sandbox paused: what the auto-resume hook may check first."""

    route: Route
    port: int
    access_token: str | None
    """The request's `X-Access-Token` (envd's token, which the SDK sends on every envd call):
    E2B wakes a sandbox for envd traffic only when it carries the sandbox's token."""


WakePaused = Callable[[WakeRequest], Awaitable[Route | None]]
"""Auto-resume hook: resume the paused sandbox and return its running route, or None when it
is not to be woken (no auto-resume). It may raise a `ProxyError` (refusals); anything else it
raises is a failed resume. Without a hook, requests to a paused sandbox get `SandboxPaused`."""

TRAFFIC_TOKEN_HEADER = b"e2b-traffic-access-token"
ACCESS_TOKEN_HEADER = b"x-access-token"


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
        self._waking: dict[tuple[str, str | None], asyncio.Future[Route | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            try:
                target = self._router.target(scope["headers"])
                route = await self._route(target)
                _check_traffic_token(scope, target, route)
                if route.state == "paused":
                    route = await self.resume_paused(route, target, _access_token(scope))
                if kind == "http":
                    relocate = self._relocator(route, target, _access_token(scope))
                    await self._http(scope, receive, send, target, route.address, relocate)
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
        return route

    async def resume_paused(self, route: Route, target: Target, token: str | None) -> Route:
        """A paused sandbox's route becomes a running one here, through the auto-resume hook;
        the request then goes on as if the sandbox had been running all along.

        Requests that arrive while a wake is under way wait for that one (one resume per
        sandbox and token, whatever the number of requests); a client that gives up does not
        cancel it for the others.
        """
        if self._wake_paused is None:
            raise SandboxPaused(route.sandbox_id)
        key = (route.sandbox_id, token)
        wake = self._waking.get(key)
        if wake is None:
            wake = asyncio.ensure_future(self._wake_paused(WakeRequest(route, target.port, token)))
            self._waking[key] = wake
            wake.add_done_callback(lambda done: self._woken(key, done))
        try:
            woken = await asyncio.shield(wake)
        except ProxyError:
            raise
        except Exception as exc:
            log.error("auto-resume failed", sandbox_id=route.sandbox_id, error=repr(exc))
            raise ResumeFailed(route.sandbox_id, str(exc) or type(exc).__name__) from exc
        if woken is None:
            raise SandboxPaused(route.sandbox_id)
        return woken

    def _relocator(self, route: Route, target: Target, token: str | None) -> Relocate | None:
        """For a running route whose address answers nothing: the catalog may be behind a
        pause made on the node (at the sandbox's end time), which the control plane learns of
        within a second. The auto-resume hook looks the sandbox up afresh (and wakes it if it
        auto-resumes), so the request reaches it instead of failing in that window."""
        if self._wake_paused is None:
            return None

        async def relocate() -> str | None:
            # Its refusals (paused without auto-resume, no token) say more than a 502 would.
            return (await self.resume_paused(route, target, token)).address

        return relocate

    def _woken(self, key: tuple[str, str | None], wake: asyncio.Future[Route | None]) -> None:
        """A finished wake: the next request of a paused sandbox starts a new one. Its error
        is marked seen here, for when every request that waited for it went away."""
        self._waking.pop(key, None)
        if not wake.cancelled():
            wake.exception()

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


def _access_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == ACCESS_TOKEN_HEADER:
            return str(value.decode("latin-1"))
    return None


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
