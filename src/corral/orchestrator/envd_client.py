"""The orchestrator's side of envd's plain HTTP API: readiness (`GET /health`) and `POST /init`.

A sandbox counts as running only once its envd answers, and it is the SDK's sandbox only once
`/init` gave it its env vars, access token and default user, so both sit on the create path:
one client with pooled keep-alive connections, a short poll interval, no proxies from the
environment (sandbox addresses are local to this host).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from datetime import UTC, datetime

import httpx

from corral import logs
from corral.envd import ENVD_PORT
from corral.orchestrator.errors import SandboxNotReady
from corral.runtime.firewall import SNAPSHOT_MARK

log = logs.get("orchestrator.envd")

ACCESS_TOKEN_HEADER = "X-Access-Token"  # noqa: S105 (a header name)

CONNECT_TIMEOUT = 0.5
"""Per attempt: a sandbox whose veth is not up yet must not stall the poll loop."""
REQUEST_TIMEOUT = 10.0


class EnvdClient:
    def __init__(self, *, port: int = ENVD_PORT, poll_interval: float = 0.005) -> None:
        self.port = port
        self.poll_interval = poll_interval
        self.http = httpx.AsyncClient(
            trust_env=False,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    def _url(self, address: str, path: str) -> str:
        return f"http://{address}:{self.port}{path}"

    async def wait_healthy(self, address: str, within: float) -> None:
        """Poll `/health` until it answers 2xx; raise `SandboxNotReady` after `within` seconds."""
        url = self._url(address, "/health")
        deadline = time.monotonic() + within
        last = "no answer"
        attempt = httpx.Timeout(min(within, REQUEST_TIMEOUT), connect=min(within, CONNECT_TIMEOUT))
        while True:
            try:
                response = await self.http.get(url, timeout=attempt)
                if response.is_success:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if time.monotonic() >= deadline:
                raise SandboxNotReady(f"envd at {address} not ready after {within:g}s ({last})")
            await asyncio.sleep(self.poll_interval)

    async def init(
        self,
        address: str,
        *,
        env_vars: dict[str, str],
        access_token: str | None,
        default_user: str,
        default_workdir: str | None = None,
        current_token: str | None = None,
    ) -> None:
        """Give envd its per-sandbox configuration (E2B envd's `POST /init`).

        The clock is sent too: a pooled or resumed sandbox may have been idle a long time.
        `current_token`: the token envd already holds (a sandbox restored from another's
        memory), which it wants before it takes a new one, or none (`access_token` None).
        """
        body: dict[str, object] = {
            "envVars": env_vars,
            "defaultUser": default_user,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        if access_token:
            body["accessToken"] = access_token
        elif current_token:
            body["accessToken"] = None
        if default_workdir:
            body["defaultWorkdir"] = default_workdir
        headers = {ACCESS_TOKEN_HEADER: current_token} if current_token else None
        try:
            response = await self.http.post(self._url(address, "/init"), json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SandboxNotReady(f"envd at {address} did not take /init: {exc!r}") from exc
        if not response.is_success:
            raise SandboxNotReady(
                f"envd at {address} refused /init: HTTP {response.status_code}"
                f" {response.text[:200]}"
            )

    async def prepare_snapshot(self, address: str, access_token: str | None) -> None:
        """Have envd drop every connection before a memory snapshot (envd's `quiesce.py`).

        Sent on a connection of its own, closed with an RST once the answer is in: a FIN would
        leave envd's side in a closing state, which the snapshot must not contain either.
        """
        await prepare_snapshot(address, self.port, access_token)

    async def aclose(self) -> None:
        await self.http.aclose()


async def prepare_snapshot(address: str, port: int, access_token: str | None) -> None:
    """`POST /snapshot/prepare` on a throwaway connection closed by RST (SO_LINGER 0).

    A raw socket, closed synchronously: an asyncio transport would close it a loop turn later,
    and the checkpoint may already have started by then.
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # The sandbox refuses new connections while it is being snapshotted, but this one.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, SNAPSHOT_MARK)
        await asyncio.wait_for(loop.sock_connect(sock, (address, port)), CONNECT_TIMEOUT * 4)
        token = f"X-Access-Token: {access_token}\r\n" if access_token else ""
        request = (
            f"POST /snapshot/prepare HTTP/1.1\r\nHost: {address}\r\n{token}"
            "Content-Length: 0\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        status = await asyncio.wait_for(loop.sock_recv(sock, 4096), REQUEST_TIMEOUT)
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    if not status.startswith(b"HTTP/1.1 204 "):
        raise SandboxNotReady(f"envd at {address} refused to prepare a snapshot: {status[:80]!r}")
