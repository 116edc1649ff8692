"""Routing and header rewriting, without sockets."""

from __future__ import annotations

import pytest

from corral.proxy.errors import BadRoute, PortNotOpen, SandboxNotFound, SandboxPaused
from corral.proxy.headers import request_headers, response_headers
from corral.proxy.routing import Router, Target


def h(**pairs: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in pairs.items()]


def test_headers_route() -> None:
    router = Router()
    got = router.target(h(host="127.0.0.1:3002", e2b_sandbox_id="sbx-1", e2b_sandbox_port="49999"))
    assert got == Target("sbx-1", 49999)


def test_host_routes_and_wins() -> None:
    router = Router("corral.example.com")
    assert router.target(h(host="49983-abc123.corral.example.com")) == Target("abc123", 49983)
    assert router.target(h(host="8080-abc123.other.net:443")) == Target("abc123", 8080)
    assert router.target(h(host="3000-sbx-x1.corral.example.com")) == Target("sbx-x1", 3000)
    clash = h(host="49983-abc123.corral.example.com", e2b_sandbox_id="zzz", e2b_sandbox_port="1")
    assert router.target(clash) == Target("abc123", 49983)


@pytest.mark.parametrize(
    "headers",
    [
        h(host="127.0.0.1:3002"),
        h(host="api.corral.example.com"),
        h(host="sandbox.corral.example.com", e2b_sandbox_id="abc"),
        h(host="x", e2b_sandbox_port="49983"),
        h(host="x", e2b_sandbox_id="abc", e2b_sandbox_port="0"),
        h(host="x", e2b_sandbox_id="abc", e2b_sandbox_port="123456"),
        h(host="x", e2b_sandbox_id="a b", e2b_sandbox_port="49983"),
        h(host="70000-abc.corral.example.com"),
    ],
)
def test_bad_routes(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(BadRoute):
        Router("corral.example.com").target(headers)


def test_request_headers_drop_hop_by_hop_and_add_forwarding() -> None:
    headers = [
        (b"host", b"proxy:3002"),
        (b"connection", b"keep-alive, x-secret-hop"),
        (b"x-secret-hop", b"1"),
        (b"transfer-encoding", b"chunked"),
        (b"content-length", b"12"),
        (b"x-access-token", b"tok"),
        (b"x-forwarded-for", b"198.51.100.1"),
        (b"x-forwarded-proto", b"https"),
        (b"te", b"trailers"),
        (b"expect", b"100-continue"),
    ]
    out, length = request_headers(headers, "10.0.0.9", "http")
    assert length == 12
    assert out == [
        (b"host", b"proxy:3002"),
        (b"x-access-token", b"tok"),
        (b"x-forwarded-for", b"198.51.100.1, 10.0.0.9"),
        (b"x-forwarded-proto", b"http"),
    ]


def test_response_headers_keep_encoding_and_length() -> None:
    out = response_headers(
        [
            (b"Content-Encoding", b"gzip"),
            (b"Content-Length", b"10"),
            (b"Connection", b"close"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Set-Cookie", b"a=1"),
        ]
    )
    assert out == [
        (b"content-encoding", b"gzip"),
        (b"content-length", b"10"),
        (b"set-cookie", b"a=1"),
    ]


def test_error_bodies_have_e2b_shape() -> None:
    assert SandboxNotFound("abc").body() == {
        "code": 502,
        "message": "The sandbox abc was not found",
        "sandboxId": "abc",
    }
    assert PortNotOpen("abc", 3000).body() == {
        "code": 502,
        "message": "The sandbox is running but port is not open",
        "sandboxId": "abc",
        "port": "3000",
    }
    paused = SandboxPaused("abc").body()
    assert "is paused" in str(paused["message"])
    assert "was not found" in str(paused["message"])  # what makes the SDK say "not running"
    assert BadRoute("x").status == 400
