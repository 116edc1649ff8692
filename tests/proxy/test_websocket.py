"""WebSocket upgrade through the proxy to a tiny echo server, on both server engines."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from corral.catalog.types import Route
from corral.proxy.settings import ProxySettings
from tests.proxy.conftest import (
    RunningProxy,
    free_loopback_address,
    memory_catalog,
    start_proxy,
    stop_proxy,
)
from tests.proxy.upstreams import start_ws_echo

WS_PORT = 8765


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def ws_proxy(request: pytest.FixtureRequest) -> Iterator[RunningProxy]:
    running = start_proxy(
        ProxySettings(host="127.0.0.1", port=0, server=request.param, domain="corral.test"),
        memory_catalog,
    )
    address = free_loopback_address(WS_PORT)
    server = running.run(start_ws_echo(address, WS_PORT))
    running.put(Route(sandbox_id="sbxws", address=address))
    yield running
    server.close()
    stop_proxy(running)


def ws_url(proxy: RunningProxy) -> str:
    return f"ws://127.0.0.1:{proxy.port}/echo?x=1"


def test_echo_text_and_bytes_by_headers(ws_proxy: RunningProxy) -> None:
    routing = {"E2b-Sandbox-Id": "sbxws", "E2b-Sandbox-Port": str(WS_PORT)}
    headers = routing | {"X-Access-Token": "tok"}
    with connect(ws_url(ws_proxy), additional_headers=headers, subprotocols=["chat.v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat.v1"
        ws.send("hello")
        assert ws.recv(5) == "hello"
        blob = bytes(range(256)) * 4096  # 1 MiB in one message
        ws.send(blob)
        assert ws.recv(5) == blob
        ws.send("token?")
        assert ws.recv(5) == "tok"
        ws.send("host?")
        assert ws.recv(5) == f"127.0.0.1:{ws_proxy.port}"  # the client's Host reaches upstream


def test_echo_by_host_and_upstream_close_code(ws_proxy: RunningProxy) -> None:
    host = f"{WS_PORT}-sbxws.corral.test:{ws_proxy.port}"
    sock = socket.create_connection(("127.0.0.1", ws_proxy.port))  # Host names no real address
    with connect(f"ws://{host}/echo", sock=sock) as ws:
        ws.send("host?")
        assert ws.recv(5) == host
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4001
    assert info.value.rcvd.reason == "asked to leave"


def test_websocket_to_unknown_sandbox_is_refused_with_502(ws_proxy: RunningProxy) -> None:
    headers = {"E2b-Sandbox-Id": "sbxnothere", "E2b-Sandbox-Port": str(WS_PORT)}
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(ws_proxy), additional_headers=headers)
    assert info.value.response.status_code == 502
    assert b"was not found" in info.value.response.body


def test_websocket_to_closed_port_is_refused_with_502(ws_proxy: RunningProxy) -> None:
    ws_proxy.put(Route(sandbox_id="sbxwsclosed", address=free_loopback_address(WS_PORT)))
    headers = {"E2b-Sandbox-Id": "sbxwsclosed", "E2b-Sandbox-Port": str(WS_PORT)}
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(ws_proxy), additional_headers=headers)
    assert info.value.response.status_code == 502
    assert b"port is not open" in info.value.response.body
