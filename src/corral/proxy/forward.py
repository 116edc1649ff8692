"""Relay one HTTP request to a sandbox port and its response back, streaming both ways.

Nothing is buffered beyond one chunk: Connect server streams (command output, `watch_dir`),
client streams (`StreamInput`, chunked uploads) and multi-gigabyte files flow through as they
come, with the servers' flow control on each side providing backpressure. Bodies pass raw: a
gzip download stays gzip.

Upstream requests go through httpcore's connection pool directly rather than through
`httpx.AsyncClient`: the client layer (URL normalisation, cookie jar, auth and redirect hooks)
costs ~0.2 ms per request (GET /health on loopback, p50: 0.81 ms through `AsyncClient.send`,
0.61 ms through the pool) and the proxy needs none of it; the client's cookie jar would also
collect every sandbox's `Set-Cookie` in one shared jar.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore

from corral import logs
from corral.proxy.errors import ClientDisconnected, PortNotOpen, UpstreamFailed
from corral.proxy.headers import request_headers, response_headers
from corral.proxy.routing import Target
from corral.proxy.settings import ProxySettings
from corral.proxy.types import Receive, Scope, Send

log = logs.get("proxy")

if importlib.util.find_spec("sniffio") is None:
    # httpcore runs `import sniffio` for every lock it sets up (several per request) and falls
    # back to asyncio when that fails; a failed import searches all of sys.path each time
    # (~0.1 ms per request here). A None entry makes the import fail at once, same outcome.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

SMALL_BODY = 64 * 1024
"""Responses up to this declared length are read whole and sent in one message."""


def upstream_pool(settings: ProxySettings) -> httpcore.AsyncConnectionPool:
    """One pool for every sandbox: connections are keyed by (address, port) inside it."""
    return httpcore.AsyncConnectionPool(
        max_connections=None,  # long-lived streams each hold one; never queue behind them
        max_keepalive_connections=settings.upstream_max_keepalive,
        keepalive_expiry=settings.upstream_keepalive_expiry,
        http1=True,
        http2=False,
        retries=0,
    )


Relocate = Callable[[], Awaitable[str | None]]
"""Where the sandbox is now, or None when that is not known better than before."""


class HttpForwarder:
    """Sends ASGI HTTP requests to `address:port` and streams the answers back."""

    def __init__(self, pool: httpcore.AsyncConnectionPool, settings: ProxySettings) -> None:
        self._pool = pool
        self._timeouts = {
            "connect": settings.upstream_connect_timeout,
            "read": None,  # streams idle between keepalives; the client decides when to give up
            "write": None,
            "pool": None,
        }

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        target: Target,
        address: str,
        relocate: Relocate | None = None,
    ) -> None:
        """`relocate`: asked for the sandbox's address afresh when nothing answers at
        `address` (a route gone stale: the sandbox was paused, or resumed elsewhere); a
        request whose body is all read already is sent there once more."""
        client = scope.get("client")
        headers, declared_length = request_headers(
            scope["headers"], client[0] if client else None, scope["scheme"]
        )
        content, body = await _request_content(receive, declared_length, headers)
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            path = path + b"?" + scope["query_string"]
        request = httpcore.Request(
            scope["method"],
            httpcore.URL(scheme=b"http", host=address.encode(), port=target.port, target=path),
            headers=headers,
            content=content,
            extensions={"timeout": self._timeouts},
        )
        try:
            try:
                response = await self._pool.handle_async_request(request)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                moved = None
                if relocate is not None and isinstance(content, bytes):
                    moved = await relocate()
                if moved is None or moved == address:
                    raise
                log.info("stale route: sandbox found elsewhere", sandbox_id=target.sandbox_id)
                retry = httpcore.Request(
                    request.method,
                    httpcore.URL(
                        scheme=b"http", host=moved.encode(), port=target.port, target=path
                    ),
                    headers=request.headers,
                    content=content,
                    extensions=request.extensions,
                )
                response = await self._pool.handle_async_request(retry)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise PortNotOpen(target.sandbox_id, target.port) from exc
        except httpcore.NetworkError as exc:
            if body.disconnected:
                raise ClientDisconnected from exc
            raise UpstreamFailed(target.sandbox_id, target.port, str(exc) or repr(exc)) from exc
        except httpcore.ProtocolError as exc:
            raise UpstreamFailed(target.sandbox_id, target.port, str(exc) or repr(exc)) from exc
        try:
            await self._respond(scope, receive, send, response, body, target)
        finally:
            await response.aclose()

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        response: httpcore.Response,
        body: _RequestBody,
        target: Target,
    ) -> None:
        out_headers = response_headers(response.headers)
        await send(
            {"type": "http.response.start", "status": response.status, "headers": out_headers}
        )
        length = _content_length(out_headers)
        if response.status in (204, 304) or scope["method"] == "HEAD":
            length = 0  # no body by definition, whatever the headers say
        stream: AsyncIterator[bytes] = response.aiter_stream()
        try:
            if length is not None and length <= SMALL_BODY:
                data = b"".join([chunk async for chunk in stream])
                await send({"type": "http.response.body", "body": data})
                return
            if body.complete:
                await _pump_until_disconnect(stream, receive, send)
            else:
                await _pump(stream, send)
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            # Headers are gone already: the only honest signal left is a broken response.
            log.warning(
                "upstream broke mid-response",
                sandbox_id=target.sandbox_id,
                port=target.port,
                error=str(exc) or repr(exc),
            )
            if scope.get("http_version") == "2":
                # Hypercorn leaves an unfinished h2 stream open forever; ending it lets the
                # client see a truncated body (Connect: "ended without an end event").
                await send({"type": "http.response.body", "body": b""})
            # On HTTP/1.1 returning unfinished makes the server drop the connection.


class _RequestBody:
    """State of the client's request body, shared with the upstream writer."""

    __slots__ = ("complete", "disconnected")

    def __init__(self, complete: bool) -> None:
        self.complete = complete
        self.disconnected = False


async def _request_content(
    receive: Receive, declared_length: int | None, headers: list[tuple[bytes, bytes]]
) -> tuple[bytes | AsyncIterator[bytes], _RequestBody]:
    """The upstream body: bytes when the first ASGI message holds all of it, else a stream.

    Reading the first message before connecting costs nothing (every request sends one) and
    turns most requests into a plain `Content-Length` body; the rest (client streams, uploads)
    stream with the client's `Content-Length`, or chunked when it declared none (h2, chunked).
    """
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if first or declared_length is not None:
            headers.append((b"content-length", str(len(first)).encode()))
        return first, _RequestBody(complete=True)
    if declared_length is not None:
        headers.append((b"content-length", str(declared_length).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    body = _RequestBody(complete=False)
    return _stream_body(first, receive, body), body


async def _stream_body(first: bytes, receive: Receive, body: _RequestBody) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            body.disconnected = True
            raise ClientDisconnected
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            body.complete = True
            return


async def _pump(stream: AsyncIterator[bytes], send: Send) -> None:
    async for chunk in stream:
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pump_until_disconnect(
    stream: AsyncIterator[bytes], receive: Receive, send: Send
) -> None:
    """Stream the response, and stop as soon as the client goes away.

    ASGI servers silently drop sends to a closed connection, so without watching for
    `http.disconnect` an abandoned stream (`CommandHandle.disconnect()`, a closed watch) would
    keep its upstream connection, and envd's stream, open forever.
    """
    pump = asyncio.ensure_future(_pump(stream, send))
    watch = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        pump.cancel()
        watch.cancel()
        outcome, _ = await asyncio.gather(pump, watch, return_exceptions=True)
    if isinstance(outcome, Exception):
        raise outcome


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
    return None
