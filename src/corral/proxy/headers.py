"""Header rewriting between the client and the sandbox: what a hop keeps and what it adds.

Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message, so each side
gets its own; everything else passes unchanged, `X-Access-Token`, `Authorization`, the routing
headers and `Content-Encoding` included (the proxy never decodes a body).
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REQUEST_DROPPED = HOP_BY_HOP | {
    # The proxy's own server already answered `Expect: 100-continue`.
    b"expect",
    # Replaced with this hop's view below.
    b"x-forwarded-for",
    b"x-forwarded-proto",
    # Recomputed for the upstream request from the body the proxy actually sends.
    b"content-length",
}


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Extra hop-by-hop names listed in `Connection` (rare: checked only when present)."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b","))
    return frozenset(tokens)


def request_headers(
    headers: Iterable[tuple[bytes, bytes]], client_ip: str | None, scheme: str
) -> tuple[Headers, int | None]:
    """The headers to send upstream, and the request's Content-Length when it declared one."""
    out: Headers = []
    forwarded_for: bytes | None = None
    content_length: int | None = None
    has_connection = False
    for name, value in headers:
        if name in _REQUEST_DROPPED:
            if name == b"x-forwarded-for":
                forwarded_for = value
            elif name == b"content-length":
                content_length = int(value)
            elif name == b"connection":
                has_connection = True
            continue
        out.append((name, value))
    if has_connection:
        extra = _connection_tokens(headers)
        out = [(name, value) for name, value in out if name not in extra]
    if client_ip:
        ip = client_ip.encode()
        out.append((b"x-forwarded-for", forwarded_for + b", " + ip if forwarded_for else ip))
    elif forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for))
    out.append((b"x-forwarded-proto", scheme.encode()))
    return out, content_length


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The sandbox's response headers minus this hop's; names lowercased for ASGI."""
    out: Headers = []
    has_connection = False
    for name, value in headers:
        lower = name.lower()
        if lower in HOP_BY_HOP:
            has_connection = has_connection or lower == b"connection"
            continue
        out.append((lower, value))
    if has_connection:
        extra = _connection_tokens((name.lower(), value) for name, value in headers)
        out = [(name, value) for name, value in out if name not in extra]
    return out
