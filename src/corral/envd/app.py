"""envd's ASGI application: Connect services by path, plain HTTP for the rest.

The access-token check sits here, in front of everything, so no handler can forget it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from corral.envd.auth import ACCESS_TOKEN_HEADER, UNPROTECTED_PATHS
from corral.envd.filesystem import FilesystemService
from corral.envd.gen.filesystem.filesystem_connect import FilesystemASGIApplication
from corral.envd.gen.process.process_connect import ProcessASGIApplication
from corral.envd.http import build_http_app
from corral.envd.process import ProcessService
from corral.envd.rpc_errors import ErrorMapping, codecs
from corral.envd.state import EnvdState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

RPC_MAX_BYTES = 16 * 1024 * 1024
"""Largest RPC message accepted; larger ones get `resource_exhausted`, never a crash."""


class EnvdApp:
    """Dispatches by path prefix: `/process.Process/…`, `/filesystem.Filesystem/…`, HTTP."""

    def __init__(self, state: EnvdState) -> None:
        self.state = state
        self.processes = ProcessService(state)
        interceptors = (ErrorMapping(),)
        self._process_app = ProcessASGIApplication(
            service=self.processes,
            interceptors=interceptors,
            read_max_bytes=RPC_MAX_BYTES,
            codecs=codecs(),
        )
        self._filesystem_app = FilesystemASGIApplication(
            service=FilesystemService(state),
            interceptors=interceptors,
            read_max_bytes=RPC_MAX_BYTES,
            codecs=codecs(),
        )
        self._http_app = build_http_app(state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] == "http" and path not in UNPROTECTED_PATHS:
            token = _header(scope, ACCESS_TOKEN_HEADER)
            if not self.state.token_matches(token):
                await _deny(send, rpc="." in path.split("/")[1] if "/" in path else False)
                return
        if path.startswith("/process.Process/"):
            await self._process_app(scope, receive, send)
        elif path.startswith("/filesystem.Filesystem/"):
            await self._filesystem_app(scope, receive, send)
        else:
            await self._http_app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.processes.shutdown()
                self.state.executors.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


async def _deny(send: Send, *, rpc: bool) -> None:
    message = "unauthorized access, please provide a valid access token or method signing"
    # Connect clients read a string code; E2B's HTTP error shape has an int code.
    body = {"code": "unauthenticated" if rpc else 401, "message": message}
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
