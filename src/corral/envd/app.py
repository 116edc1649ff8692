"""envd's ASGI application: Connect services by path, plain HTTP for the rest.

The access-token check sits here, in front of everything, so no handler can forget it.

Everything behind `GET /health` is built when first needed, not at start. The Connect services'
modules (protobuf and its well-known types, connectrpc) and the HTTP endpoints' (Starlette and
what it imports) are most of envd's start time and a third of its memory. So envd answers
`/health` sooner (every cold start waits for it). Right after the first `/health` is answered
(the orchestrator's readiness check), the HTTP endpoints and the process service are loaded in
the background: a sandbox taken from a warm pool then answers `/init` and its first command
without paying for them (measured: a pool hit's `/init` went from 3 to 20 ms on crun and to
64 ms on gVisor when they loaded on demand). The filesystem service waits for its own first
request (entries, watches, inotify: many sandboxes only run commands).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from corral.envd.auth import ACCESS_TOKEN_HEADER, UNPROTECTED_PATHS
from corral.envd.state import EnvdState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from corral.envd.gen.filesystem.filesystem_connect import FilesystemASGIApplication
    from corral.envd.gen.process.process_connect import ProcessASGIApplication
    from corral.envd.http import HttpApp
    from corral.envd.process import ProcessService

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
        self._processes: ProcessService | None = None
        self._process_app: ProcessASGIApplication | None = None
        self._filesystem_app: FilesystemASGIApplication | None = None
        self._http_app: HttpApp | None = None
        self._warming = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        if path == "/health" and scope.get("method") in ("GET", "HEAD"):
            await _health(send)
            if not self._warming:
                self._warming = True
                asyncio.get_running_loop().call_soon(self._warm)
            return
        if scope["type"] == "http" and path not in UNPROTECTED_PATHS:
            token = _header(scope, ACCESS_TOKEN_HEADER)
            if not self.state.token_matches(token):
                await _deny(send, rpc="." in path.split("/")[1] if "/" in path else False)
                return
        if path.startswith("/process.Process/"):
            await self._process()(scope, receive, send)
        elif path.startswith("/filesystem.Filesystem/"):
            await self._filesystem()(scope, receive, send)
        else:
            await self._http()(scope, receive, send)

    def _warm(self) -> None:
        """Load what a create needs next (`/init`, then commands), once envd has answered."""
        self._http()
        self._process()

    def _http(self) -> HttpApp:
        if self._http_app is None:
            from corral.envd.http import build_http_app

            self._http_app = build_http_app(self.state, after_init=self._process)
        return self._http_app

    def _process(self) -> ProcessASGIApplication:
        if self._process_app is None:
            from corral.envd.gen.process.process_connect import ProcessASGIApplication
            from corral.envd.process import ProcessService
            from corral.envd.rpc_errors import ErrorMapping, codecs

            self._processes = ProcessService(self.state)
            self._process_app = ProcessASGIApplication(
                service=self._processes,
                interceptors=(ErrorMapping(),),
                read_max_bytes=RPC_MAX_BYTES,
                codecs=codecs(),
            )
        return self._process_app

    def _filesystem(self) -> FilesystemASGIApplication:
        if self._filesystem_app is None:
            from corral.envd.filesystem import FilesystemService
            from corral.envd.gen.filesystem.filesystem_connect import FilesystemASGIApplication
            from corral.envd.rpc_errors import ErrorMapping, codecs

            self._filesystem_app = FilesystemASGIApplication(
                service=FilesystemService(self.state),
                interceptors=(ErrorMapping(),),
                read_max_bytes=RPC_MAX_BYTES,
                codecs=codecs(),
            )
        return self._filesystem_app

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._processes is not None:
                    await self._processes.shutdown()
                self.state.executors.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


async def _health(send: Send) -> None:
    """E2B's readiness answer (the same as `http.py`'s `/health` route, without Starlette)."""
    headers = [(b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


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
