"""Small servers standing in for user services inside a sandbox (any port but envd's)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import uvicorn
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from corral.proxy.server import bind

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class EchoApp:
    """`/headers`: the request headers as JSON; `/upload`: size, sha256 and framing of the body;
    `/stream`: a line every 0.2 s until the client leaves (then `closed` is set);
    `/gzip`: a fixed gzip body with `Content-Encoding: gzip`."""

    GZIP_BODY = gzip.compress(b"hello gzip " * 100, mtime=0)

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.lines_sent = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/headers":
            body = json.dumps([[k.decode(), v.decode()] for k, v in scope["headers"]]).encode()
            await _respond(send, 200, body, b"application/json")
        elif path == "/upload":
            digest, size, chunks = hashlib.sha256(), 0, 0
            while True:
                message = await receive()
                data = message.get("body", b"")
                digest.update(data)
                size += len(data)
                chunks += 1 if data else 0
                if not message.get("more_body", False):
                    break
            framing = dict(scope["headers"]).get(b"transfer-encoding", b"length").decode()
            result = {"size": size, "sha256": digest.hexdigest(), "framing": framing}
            await _respond(send, 200, json.dumps(result).encode(), b"application/json")
        elif path == "/stream":
            await receive()  # the (empty) request body
            await send({"type": "http.response.start", "status": 200, "headers": []})
            disconnected = asyncio.ensure_future(receive())
            try:
                while True:
                    self.lines_sent += 1
                    line = f"line {self.lines_sent}\n".encode()
                    await send({"type": "http.response.body", "body": line, "more_body": True})
                    done, _ = await asyncio.wait({disconnected}, timeout=0.2)
                    if done:
                        break
            finally:
                self.closed.set()
                disconnected.cancel()
        elif path == "/gzip":
            headers = [(b"content-encoding", b"gzip"), (b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": self.GZIP_BODY})
        else:
            await _respond(send, 404, b"no such path", b"text/plain")


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def start_echo(address: str, port: int, app: EchoApp) -> uvicorn.Server:
    config = uvicorn.Config(app, lifespan="off", log_level="warning", http="h11")
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[bind(address, port)])
    return server


async def stop_echo(server: uvicorn.Server) -> None:
    server.should_exit = True
    await server.shutdown()


async def _ws_echo(connection: ServerConnection) -> None:
    async for message in connection:
        if message == "host?":
            await connection.send(connection.request.headers["Host"] if connection.request else "")
        elif message == "token?":
            await connection.send(connection.request.headers.get("X-Access-Token", "") or "")
        elif message == "bye":
            await connection.close(code=4001, reason="asked to leave")
        else:
            await connection.send(message)


def _pick_subprotocol(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    return Subprotocol("chat.v1") if "chat.v1" in offered else None


async def start_ws_echo(address: str, port: int) -> Server:
    return await serve(
        _ws_echo, address, port, select_subprotocol=_pick_subprotocol, compression=None
    )


async def start_hangup_server(address: str, port: int, reply: bytes = b"") -> asyncio.Server:
    """Accepts, reads the request head, writes `reply` (maybe nothing), then hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, address, port)
