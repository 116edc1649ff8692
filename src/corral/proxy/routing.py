"""Which sandbox and port a request is for: from its Host, or from E2B's routing headers.

Two ways in, as in E2B's client-proxy (e2b-wire-protocol.md §1.2, §1.4):
- the Host `{port}-{sandboxID}.{domain}`: what the SDK uses for a custom domain, and the only way
  for `download_url()`/`upload_url()`, `get_host(port)` and MCP links;
- the `E2b-Sandbox-Id` + `E2b-Sandbox-Port` headers the SDK adds to every envd and Jupyter
  request: the only way when all of them go to one `E2B_SANDBOX_URL`.
A host that names a sandbox wins (it is the more specific address); otherwise the headers decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from corral.proxy.errors import BadRoute

ENVD_PORT = 49983
HEADER_SANDBOX_ID = b"e2b-sandbox-id"
HEADER_SANDBOX_PORT = b"e2b-sandbox-port"

_ANY_HOST = re.compile(r"(\d+)-([a-z0-9]+)\.")
"""First label of any host: E2B ids are lowercase alphanumerics."""
_SANDBOX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""Ids Corral hands out (and accepts in headers): letters, digits, `_` and `-`."""


@dataclass(frozen=True, slots=True)
class Target:
    sandbox_id: str
    port: int


class Router:
    """Reads the target of a request from its ASGI headers (lowercase names, bytes)."""

    def __init__(self, domain: str | None = None) -> None:
        self._own_host: re.Pattern[str] | None = None
        if domain:
            # Under our own domain, ids may contain `-` (`49983-sbx-1.example.com`).
            self._own_host = re.compile(
                r"(\d+)-([A-Za-z0-9][A-Za-z0-9_-]{0,127})\." + re.escape(domain.lower()) + r"$"
            )

    def target(self, headers: Iterable[tuple[bytes, bytes]]) -> Target:
        host = sandbox_id = port = None
        for name, value in headers:
            if name == b"host":
                host = value
            elif name == HEADER_SANDBOX_ID:
                sandbox_id = value
            elif name == HEADER_SANDBOX_PORT:
                port = value
        if host is not None:
            found = self._from_host(host.decode("latin-1").lower())
            if found is not None:
                return found
        if sandbox_id is None and port is None:
            raise BadRoute(
                "Missing routing information: send E2b-Sandbox-Id and E2b-Sandbox-Port headers, "
                "or use a {port}-{sandboxID}.{domain} host"
            )
        if not sandbox_id:
            raise BadRoute("Missing header: E2b-Sandbox-Id")
        if not port:
            raise BadRoute("Missing header: E2b-Sandbox-Port")
        return Target(_sandbox_id(sandbox_id.decode("latin-1")), _port(port.decode("latin-1")))

    def _from_host(self, host: str) -> Target | None:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self._own_host is not None:
            match = self._own_host.match(name)
            if match is not None:
                return Target(match.group(2), _port(match.group(1)))
        match = _ANY_HOST.match(name)
        if match is None:
            return None
        return Target(match.group(2), _port(match.group(1)))


def _sandbox_id(value: str) -> str:
    if _SANDBOX_ID.fullmatch(value) is None:
        raise BadRoute(f"Invalid sandbox id {value[:64]!r}")
    return value


def _port(value: str) -> int:
    port = int(value) if value.isdigit() and len(value) <= 5 else 0
    if not 0 < port < 65536:
        raise BadRoute(f"Invalid sandbox port {value[:16]!r}")
    return port
