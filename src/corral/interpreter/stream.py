"""The `/execute` response: newline-delimited JSON, one line per kernel output, sent as it comes.

The SDK parses every line with `json.loads`, so a line is never blank, and the stream always
ends with `{"type": "end_of_execution"}` as E2B's does. While the kernel works, the response
also watches the connection: the SDK enforces `run_code(timeout=…)` by closing it, and that is
the only sign the server gets, so a disconnect calls `on_disconnect` (which interrupts the
kernel) even when the code prints nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from corral.interpreter.execution import Execution
from corral.interpreter.outputs import END_OF_EXECUTION, Line

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEADERS = [
    (b"content-type", b"application/x-ndjson"),
    (b"cache-control", b"no-store"),
]


async def execution_chunks(execution: Execution) -> AsyncIterator[bytes]:
    """The execution's lines, encoded; lines already waiting go out in one write."""
    queue = execution.lines
    while True:
        lines = [await queue.get()]
        while lines[-1] is not None and not queue.empty():
            lines.append(queue.get_nowait())
        ended = lines[-1] is None
        if ended:
            lines[-1] = END_OF_EXECUTION
        yield b"".join(encode(line) for line in lines if line is not None)
        if ended:
            return


def encode(line: Line) -> bytes:
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


class LineStream:
    """An ASGI response streaming `chunks`; `on_disconnect` runs if the client leaves first."""

    def __init__(self, chunks: AsyncIterator[bytes], on_disconnect: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_disconnect = on_disconnect

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        pump = asyncio.create_task(self._pump(send))
        watch = asyncio.create_task(_until_disconnect(receive))
        try:
            done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            if not pump.done():
                pump.cancel()
        failure = pump.exception() if pump in done else None
        if pump in done and failure is None and pump.result():
            return
        self._on_disconnect()
        if failure is not None:
            raise failure

    async def _pump(self, send: Send) -> bool:
        """Send every line; False when the client went away while they were being sent."""
        try:
            async for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return False
        return True


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
