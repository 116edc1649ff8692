"""Running a command in a sandbox through envd's Connect `process.Process/Start` (JSON codec).

The orchestrator needs this for templates: the start command runs in every new sandbox of a
template, the ready command is polled until it succeeds, and a build checks both before it
is declared ready. Only what that needs: start, read events, the exit code and output.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from corral.envd import ENVD_PORT

END_STREAM = 0x02
OUTPUT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    output: str
    """stdout and stderr interleaved as they came, the last `OUTPUT_LIMIT` bytes."""


class CommandFailed(Exception):
    pass


def _envelope(message: dict[str, object]) -> bytes:
    raw = json.dumps(message).encode()
    return struct.pack(">BI", 0, len(raw)) + raw


def _headers(user: str, access_token: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/connect+json",
        "Connect-Protocol-Version": "1",
        "Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode(),
    }
    if access_token:
        headers["X-Access-Token"] = access_token
    return headers


def _request(command: str, cwd: str | None) -> dict[str, object]:
    process: dict[str, object] = {"cmd": "/bin/bash", "args": ["-l", "-c", command], "envs": {}}
    if cwd:
        process["cwd"] = cwd
    return {"process": process, "stdin": False}


async def _events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    buffer = b""
    async for chunk in response.aiter_bytes():
        buffer += chunk
        while len(buffer) >= 5:
            flags, size = struct.unpack(">BI", buffer[:5])
            if len(buffer) < 5 + size:
                break
            payload, buffer = buffer[5 : 5 + size], buffer[5 + size :]
            message = json.loads(payload or b"{}")
            if flags & END_STREAM:
                if message.get("error"):
                    raise CommandFailed(str(message["error"].get("message", message["error"])))
                return
            event = message.get("event")
            yield event if isinstance(event, dict) else {}


class EnvdCommands:
    def __init__(self, http: httpx.AsyncClient, port: int = ENVD_PORT) -> None:
        self._http = http
        self._port = port

    def _url(self, address: str) -> str:
        return f"http://{address}:{self._port}/process.Process/Start"

    async def run(
        self,
        address: str,
        command: str,
        *,
        user: str,
        cwd: str | None = None,
        access_token: str | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 - a per-request HTTP timeout, not a deadline
    ) -> CommandResult:
        """Run to the end; the exit code and (the tail of) the output."""
        output = bytearray()
        exit_code = -1
        async with self._http.stream(
            "POST",
            self._url(address),
            content=_envelope(_request(command, cwd)),
            headers=_headers(user, access_token),
            timeout=httpx.Timeout(timeout, connect=2.0),
        ) as response:
            if response.status_code != 200:
                raise CommandFailed(f"envd answered HTTP {response.status_code}")
            async for event in _events(response):
                data = event.get("data")
                if data:
                    for stream in ("stdout", "stderr"):
                        if stream in data:
                            output += base64.b64decode(data[stream])
                    del output[:-OUTPUT_LIMIT]
                end = event.get("end")
                if end is not None:
                    exit_code = int(end.get("exitCode", 0 if end.get("exited") else -1))
        return CommandResult(exit_code, output.decode(errors="replace"))

    async def start(
        self,
        address: str,
        command: str,
        *,
        user: str,
        cwd: str | None = None,
        access_token: str | None = None,
    ) -> int:
        """Start in the background (envd keeps it running after we hang up); its pid."""
        async with self._http.stream(
            "POST",
            self._url(address),
            content=_envelope(_request(command, cwd)),
            headers=_headers(user, access_token),
            timeout=httpx.Timeout(10.0, connect=2.0),
        ) as response:
            if response.status_code != 200:
                raise CommandFailed(f"envd answered HTTP {response.status_code}")
            async for event in _events(response):
                start = event.get("start")
                if start is not None:
                    return int(start.get("pid", 0))
        raise CommandFailed("envd ended the stream before the process started")
