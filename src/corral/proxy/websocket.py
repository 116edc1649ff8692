"""Relay a WebSocket between the client and a sandbox port, frame by frame.

The proxy ends the client's WebSocket (the ASGI server does the handshake and frames) and opens
its own to the sandbox with `websockets`, then copies messages both ways until either side
closes. The upstream handshake happens before the client's is accepted, so a sandbox that
refuses is answered with its own status (or the proxy's JSON error), not an accepted-then-closed
socket. The TCP connection is opened here rather than by `websockets` so that the upstream
request keeps the client's Host header (dev servers in sandboxes check it) and so that a closed
port is told apart from a failed handshake.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from corral.proxy.errors import ClientDisconnected, PortNotOpen, UpstreamFailed
from corral.proxy.headers import HOP_BY_HOP, request_headers
from corral.proxy.routing import Target
from corral.proxy.settings import ProxySettings
from corral.proxy.types import Receive, Scope, Send

_HANDSHAKE = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
    b"sec-websocket-accept",
}
_UNSENDABLE_CLOSE = {1005, 1006, 1015}
"""Close codes that only report what happened and may not appear in a close frame."""


class WebSocketForwarder:
    """Opens the upstream WebSocket, accepts the client's, and pumps messages between them."""

    def __init__(self, settings: ProxySettings) -> None:
        self._connect_timeout = settings.upstream_connect_timeout
        self._max_message = settings.websocket_max_message

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, target: Target, address: str
    ) -> None:
        if (await receive())["type"] != "websocket.connect":
            raise ClientDisconnected
        upstream = await self._open(scope, send, target, address)
        if upstream is None:
            return
        async with upstream:
            await send(
                {
                    "type": "websocket.accept",
                    "subprotocol": upstream.subprotocol,
                    "headers": [],
                }
            )
            await _relay(receive, send, upstream)

    async def _open(
        self, scope: Scope, send: Send, target: Target, address: str
    ) -> ClientConnection | None:
        headers, host, subprotocols = _handshake_headers(scope)
        path = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            path = path + b"?" + scope["query_string"]
        uri = f"ws://{host}{path.decode('latin-1')}"
        try:
            parse_uri(uri)
        except InvalidURI:
            # An odd Host header: address the sandbox directly (and lose the client's Host).
            uri = f"ws://{address}:{target.port}{path.decode('latin-1')}"
        sock = await self._dial(target, address)
        try:
            return await connect(
                uri,
                sock=sock,
                additional_headers=headers,
                subprotocols=subprotocols or None,
                user_agent_header=None,
                compression=None,  # loopback/veth: spend no CPU on deflate in the middle
                open_timeout=self._connect_timeout,
                max_size=self._max_message,
                proxy=None,
            )
        except InvalidStatus as exc:
            await _relay_refusal(scope, send, exc)
            return None
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as exc:
            sock.close()
            raise UpstreamFailed(target.sandbox_id, target.port, str(exc) or repr(exc)) from exc

    async def _dial(self, target: Target, address: str) -> socket.socket:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.sock_connect(sock, (address, target.port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise PortNotOpen(target.sandbox_id, target.port) from exc
        return sock


def _handshake_headers(scope: Scope) -> tuple[list[tuple[str, str]], str, list[Subprotocol]]:
    """Headers for the upstream handshake, the client's Host, and the offered subprotocols."""
    client = scope.get("client")
    forwarded, _ = request_headers(scope["headers"], client[0] if client else None, scope["scheme"])
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in forwarded
        if name not in _HANDSHAKE
    ]
    host = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"host"), "")
    subprotocols = [Subprotocol(p) for p in scope.get("subprotocols", [])]
    return headers, host, subprotocols


async def _relay_refusal(scope: Scope, send: Send, exc: InvalidStatus) -> None:
    """The sandbox answered the handshake with an HTTP status: pass that answer on."""
    response = exc.response
    if "websocket.http.response" in scope.get("extensions", {}):
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.raw_items()
            if name.lower().encode("latin-1") not in HOP_BY_HOP and name.lower() != "content-length"
        ]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status_code,
                "headers": headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": response.body or b""})
    else:
        await send({"type": "websocket.close", "code": 1011})


async def _relay(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    to_upstream = asyncio.ensure_future(_client_to_upstream(receive, upstream))
    to_client = asyncio.ensure_future(_upstream_to_client(send, upstream))
    try:
        await asyncio.wait((to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED)
    finally:
        to_upstream.cancel()
        to_client.cancel()
        outcomes = await asyncio.gather(to_upstream, to_client, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception) and not isinstance(outcome, ConnectionClosed):
            raise outcome


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else message.get("bytes") or b"")
        elif kind == "websocket.disconnect":
            code = message.get("code", 1000)
            await upstream.close(
                code=1000 if code in _UNSENDABLE_CLOSE else code, reason=message.get("reason") or ""
            )
            return


async def _upstream_to_client(send: Send, upstream: ClientConnection) -> None:
    try:
        async for data in upstream:
            event: dict[str, Any] = {"type": "websocket.send"}
            event["text" if isinstance(data, str) else "bytes"] = data
            await send(event)
    except ConnectionClosed:
        pass
    code = upstream.close_code
    if code is None or code in _UNSENDABLE_CLOSE:
        code = 1011 if code == 1006 else 1000
    await send({"type": "websocket.close", "code": code, "reason": upstream.close_reason or ""})
