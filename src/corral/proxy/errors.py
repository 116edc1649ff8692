"""Everything the proxy answers itself instead of the sandbox, in E2B's JSON error shape.

E2B's client-proxy answers `{"sandboxId", "message", "code", ...}` with the status in `code`;
the SDK reads `message` and the integer `code` (e2b-wire-protocol.md §3.1, "Non-Connect error
bodies"). The SDK picks its exception from the message text: "was not found" means
`SandboxNotRunningException`, "port is not open" `SandboxUnreachableException`. So the wording
of those two messages is part of the protocol, not prose.
"""

from __future__ import annotations

import json
from typing import ClassVar

JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


class ProxyError(Exception):
    """A request the proxy answers itself; `status` is the HTTP status and the body's `code`."""

    status: ClassVar[int] = 502

    def __init__(self, message: str, *, sandbox_id: str | None = None, port: int | None = None):
        super().__init__(message)
        self.message = message
        self.sandbox_id = sandbox_id
        self.port = port

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.status, "message": self.message}
        if self.sandbox_id is not None:
            body["sandboxId"] = self.sandbox_id
        if self.port is not None:
            body["port"] = str(self.port)
        return body

    def encode(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":")).encode()


class BadRoute(ProxyError):
    """The request names no sandbox (no routing headers, no `{port}-{id}.` host) or a bad one."""

    status = 400


class SandboxNotFound(ProxyError):
    """No route: the sandbox never existed, was killed, or reached its timeout."""

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(f"The sandbox {sandbox_id} was not found", sandbox_id=sandbox_id)


class SandboxPaused(ProxyError):
    """The sandbox is paused and nothing resumed it.

    The message keeps "was not found" because the SDK maps exactly that to
    `SandboxNotRunningException` ("killed, paused or reached its timeout": retrying will not
    help, resume it); any other text would make the SDK report the sandbox as unreachable.
    """

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(
            f"The sandbox {sandbox_id} is paused: it was not found among running sandboxes",
            sandbox_id=sandbox_id,
        )

    def body(self) -> dict[str, object]:
        return {**super().body(), "canAutoResume": False}


class ResumeDenied(ProxyError):
    """Traffic may not wake this paused sandbox (envd traffic without the sandbox's token)."""

    status = 403


class ResumeFailed(ProxyError):
    """Waking the paused sandbox failed. Not "was not found": its state is unknown now."""

    def __init__(self, sandbox_id: str, reason: str) -> None:
        super().__init__(
            f"The sandbox {sandbox_id} could not be resumed: {reason}", sandbox_id=sandbox_id
        )


class PortNotOpen(ProxyError):
    """The sandbox is routed but nothing accepts connections on the port (E2B's exact text)."""

    def __init__(self, sandbox_id: str, port: int) -> None:
        super().__init__(
            "The sandbox is running but port is not open", sandbox_id=sandbox_id, port=port
        )


class UpstreamFailed(ProxyError):
    """The connection to the sandbox broke before it answered (the SDK then probes /health)."""

    def __init__(self, sandbox_id: str, port: int, reason: str) -> None:
        super().__init__(
            f"The sandbox {sandbox_id} did not answer on port {port}: {reason}",
            sandbox_id=sandbox_id,
            port=port,
        )


class TrafficTokenRejected(ProxyError):
    """A port other than envd's needs `E2B-Traffic-Access-Token` and it is missing or wrong."""

    status = 403


class RoutingUnavailable(ProxyError):
    """The catalog could not be asked (Redis down): the sandbox's state is unknown."""

    status = 503

    def __init__(self, sandbox_id: str) -> None:
        super().__init__(
            f"The route of sandbox {sandbox_id} could not be looked up", sandbox_id=sandbox_id
        )


class ClientDisconnected(Exception):
    """The client went away while its request body was still being read."""
