"""Requests no route should see, refused in E2B's error shape before any route runs.

- A body over `max_bytes`: a 413, whether its size is announced (`Content-Length`) or not
  (chunked: the body is read here up to the limit, then handed on).
- A NUL character in the path: a 404, since no sandbox, template or key has one in its id,
  and PostgreSQL refuses NULs in text, which would otherwise turn a lookup into a 500.
- A query parameter given twice: a 400. Every parameter of this API takes one value (lists
  are comma-separated, as the SDK sends them), so a repeated one is ambiguous; E2B's
  generated Go server refuses it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from corral.api import errors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_upload(scope: Scope) -> bool:
    """A template build's file upload (`PUT /templates/{id}/files/{hash}`): streamed to the
    artifact store by its route, which enforces its own, much larger, limit."""
    parts = scope["path"].split("/")
    return (
        scope.get("method") == "PUT" and len(parts) == 5 and parts[1:4:2] == ["templates", "files"]
    )


class RequestGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\0" in scope["path"]:
            await errors.body(404, "not found")(scope, receive, send)
            return
        if is_upload(scope):
            await self.app(scope, receive, send)
            return
        repeated = _repeated_parameter(scope.get("query_string", b""))
        if repeated is not None:
            await errors.body(400, f"query parameter {repeated!r} given more than once")(
                scope, receive, send
            )
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        elif b"transfer-encoding" in headers:
            body = await self._read_within_limit(receive)
            if body is None:
                await self._too_large(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = errors.body(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)

    async def _read_within_limit(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is over the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route sees an empty body
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _repeated_parameter(query: bytes) -> str | None:
    seen: set[str] = set()
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the already-read body once, then the connection's own events."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
