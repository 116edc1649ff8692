"""Dropping every client connection before the sandbox's memory is snapshotted.

gVisor resets TCP connections that are open at a checkpoint (`--net-disconnect-ok`), and a
process whose connection was reset that way was measured to stop answering after the restore.
So before `runsc checkpoint` the orchestrator calls `POST /snapshot/prepare`: envd aborts every
other connection it holds (an RST leaves no endpoint in a connected state, unlike a FIN) before
it answers, and the orchestrator closes that request's own connection with an RST once the
answer is in, so the sandbox is saved with none open.
Clients of a paused sandbox reconnect after the resume, as they would with E2B. The same call
precedes killing a gVisor sandbox, whose network stack vanishes without closing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, Protocol


class _ServerState(Protocol):
    connections: set[Any]


class Connections:
    """The live connections of envd's HTTP server (uvicorn's server state, once attached)."""

    def __init__(self) -> None:
        self._state: _ServerState | None = None

    def attach(self, server_state: _ServerState) -> None:
        self._state = server_state

    async def abort_all(self, keep_peer: tuple[str, int] | None = None) -> int:
        """Abort every connection but the one from `keep_peer`; how many were aborted.

        Returns once their sockets are closed: asyncio closes an aborted socket on a later
        turn of the loop, and the snapshot may start as soon as the caller has its answer.
        """
        if self._state is None:
            return 0
        aborted = []
        for connection in list(self._state.connections):
            transport = getattr(connection, "transport", None)
            if transport is None:
                continue
            peer = transport.get_extra_info("peername")
            if keep_peer is not None and peer is not None and tuple(peer[:2]) == keep_peer:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0: close() sends an RST and frees the endpoint at once; a plain close
                # sends a FIN and leaves it in FIN_WAIT, still "connected" for the snapshot.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
            transport.abort()
            aborted.append(connection)
        for _ in range(CLOSE_WAIT_TURNS):
            if not any(c in self._state.connections for c in aborted):
                break
            await asyncio.sleep(0.001)
        return len(aborted)


_LINGER_OFF = struct.pack("ii", 1, 0)
CLOSE_WAIT_TURNS = 1000
"""At most ~1 s for aborted connections to be closed by the event loop."""

CONNECTIONS = Connections()
