"""HTTP behaviour of the proxy seen from the wire: routing per request, headers, streaming."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from corral.catalog.types import Route
from tests.proxy.conftest import (
    ENVD_PORT,
    RunningProxy,
    Sandbox,
    free_loopback_address,
)
from tests.proxy.upstreams import EchoApp, start_echo, stop_echo

ECHO_PORT = 8080


@dataclass
class Echo:
    sandbox_id: str
    app: EchoApp

    def headers(self) -> dict[str, str]:
        return {"E2b-Sandbox-Id": self.sandbox_id, "E2b-Sandbox-Port": str(ECHO_PORT)}


@pytest.fixture(scope="module")
def echo(proxy: RunningProxy) -> Iterator[Echo]:
    address = free_loopback_address(ECHO_PORT)
    app = EchoApp()
    server = proxy.run(start_echo(address, ECHO_PORT, app))
    proxy.put(Route(sandbox_id="sbxecho", address=address))
    yield Echo("sbxecho", app)
    proxy.run(stop_echo(server))


def envd_headers(sandbox: Sandbox) -> dict[str, str]:
    return {
        "E2b-Sandbox-Id": sandbox.sandbox_id,
        "E2b-Sandbox-Port": str(ENVD_PORT),
        "X-Access-Token": sandbox.token,
    }


def test_requests_on_one_connection_alternate_sandboxes(
    proxy: RunningProxy, sandbox_a: Sandbox, sandbox_b: Sandbox
) -> None:
    """Each envd demands its own token, so a request routed to the wrong one gets a 401."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.connect()
    sock = conn.sock
    for i in range(10):
        sandbox = (sandbox_a, sandbox_b)[i % 2]
        conn.request(
            "POST",
            "/process.Process/List",
            body=b"{}",
            headers={
                **envd_headers(sandbox),
                "Content-Type": "application/json",
            },
        )
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        assert "processes" in json.loads(body) or json.loads(body) == {}
        assert conn.sock is sock, "the proxy closed the keep-alive connection"
    conn.close()


def test_wrong_token_for_the_routed_sandbox_is_rejected_by_envd(
    proxy: RunningProxy, sandbox_a: Sandbox, sandbox_b: Sandbox
) -> None:
    headers = {**envd_headers(sandbox_a), "X-Access-Token": sandbox_b.token}
    response = httpx.post(f"{proxy.url}/process.Process/List", json={}, headers=headers)
    assert response.status_code == 401


def test_host_routing(proxy: RunningProxy, sandbox_a: Sandbox) -> None:
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        host = f"{ENVD_PORT}-{sandbox_a.sandbox_id}.corral.test"
        assert client.get("/health", headers={"Host": host}).status_code == 204
        # Any domain works when the first label names the sandbox.
        other = f"{ENVD_PORT}-{sandbox_a.sandbox_id}.elsewhere.example:443"
        assert client.get("/health", headers={"Host": other}).status_code == 204
        # The host wins over headers naming another sandbox.
        clash = {"Host": host, "E2b-Sandbox-Id": "sbxnothere", "E2b-Sandbox-Port": "49983"}
        assert client.get("/health", headers=clash).status_code == 204


def test_host_routing_hyphenated_id_under_own_domain(
    proxy: RunningProxy, sandbox_a: Sandbox
) -> None:
    proxy.put(Route(sandbox_id="sbx-with-dash", address=sandbox_a.address))
    try:
        host = f"{ENVD_PORT}-sbx-with-dash.corral.test"
        response = httpx.get(f"{proxy.url}/health", headers={"Host": host})
        assert response.status_code == 204
    finally:
        proxy.delete("sbx-with-dash")


def test_headers_pass_through_and_forwarded_headers_are_added(
    proxy: RunningProxy, echo: Echo
) -> None:
    response = httpx.get(
        f"{proxy.url}/headers",
        headers={
            **echo.headers(),
            "X-Access-Token": "secret-token",
            "X-Forwarded-For": "203.0.113.7",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "must not pass",
            "Keep-Alive": "timeout=5",
        },
    )
    seen = {name: value for name, value in response.json()}
    assert seen["x-access-token"] == "secret-token"
    assert seen["e2b-sandbox-id"] == "sbxecho"
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["host"] == f"127.0.0.1:{proxy.port}"  # the client's Host, not the sandbox IP
    assert "x-hop" not in seen
    assert "keep-alive" not in seen


def test_gzip_passes_through_undecoded(proxy: RunningProxy, echo: Echo) -> None:
    with (
        httpx.Client(trust_env=False) as client,
        client.stream("GET", f"{proxy.url}/gzip", headers=echo.headers()) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert raw == EchoApp.GZIP_BODY
    assert gzip.decompress(raw) == b"hello gzip " * 100


def test_envd_gzip_download_is_byte_identical(proxy: RunningProxy, sandbox_a: Sandbox) -> None:
    path = "/tmp/corral-proxy-gzip-test.txt"
    with open(path, "wb") as f:
        f.write(b"compress me please " * 50_000)
    params = {"path": path, "username": "root"}
    headers = {"Accept-Encoding": "gzip", "X-Access-Token": sandbox_a.token}
    try:
        with httpx.Client(trust_env=False) as client:
            direct_url = f"http://{sandbox_a.address}:{ENVD_PORT}/files"
            with client.stream("GET", direct_url, params=params, headers=headers) as direct:
                direct_raw = b"".join(direct.iter_raw())
            with client.stream(
                "GET",
                f"{proxy.url}/files",
                params=params,
                headers=envd_headers(sandbox_a) | headers,
            ) as proxied:
                proxied_raw = b"".join(proxied.iter_raw())
        assert direct.headers["content-encoding"] == "gzip"
        assert proxied.headers["content-encoding"] == "gzip"
        assert gzip.decompress(proxied_raw) == b"compress me please " * 50_000
        assert proxied_raw == direct_raw
    finally:
        os.unlink(path)


def test_chunked_upload_streams_and_content_length_is_kept(proxy: RunningProxy, echo: Echo) -> None:
    payload = os.urandom(3 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 256 * 1024):
            yield payload[start : start + 256 * 1024]

    chunked = httpx.post(f"{proxy.url}/upload", content=chunks(), headers=echo.headers()).json()
    assert chunked["size"] == len(payload)
    assert chunked["framing"] == "chunked"
    sized = httpx.post(f"{proxy.url}/upload", content=payload, headers=echo.headers()).json()
    assert sized["size"] == len(payload)
    assert sized["framing"] == "length"
    assert sized["sha256"] == chunked["sha256"]


def test_streaming_response_arrives_incrementally_and_disconnect_reaches_upstream(
    proxy: RunningProxy, echo: Echo
) -> None:
    echo.app.closed.clear()
    arrivals = []
    with (
        httpx.Client(trust_env=False) as client,
        client.stream("GET", f"{proxy.url}/stream", headers=echo.headers()) as response,
    ):
        for _line in response.iter_lines():
            arrivals.append(time.monotonic())
            if len(arrivals) == 3:
                break
    assert arrivals[-1] - arrivals[0] > 0.3  # spread out: relayed as produced
    # Closing the client connection must close the upstream one (else streams leak forever).
    deadline = time.monotonic() + 5
    while not echo.app.closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert echo.app.closed.is_set(), "the upstream stream stayed open after the client left"
