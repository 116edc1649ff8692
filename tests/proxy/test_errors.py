"""What the proxy answers itself, and which exception the official SDK makes of it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from e2b import SandboxNotRunningException, SandboxUnreachableException

from corral.catalog.types import Route
from corral.proxy.app import WakeRequest
from corral.proxy.errors import ResumeDenied
from corral.proxy.settings import ProxySettings
from tests.proxy.conftest import (
    ENVD_PORT,
    RunningProxy,
    Sandbox,
    free_loopback_address,
    memory_catalog,
    start_proxy,
    stop_proxy,
)
from tests.proxy.upstreams import start_hangup_server
from tests.sdk import sdk_sandbox


def headers(sandbox_id: str, port: int = ENVD_PORT) -> dict[str, str]:
    return {"E2b-Sandbox-Id": sandbox_id, "E2b-Sandbox-Port": str(port)}


def test_unknown_sandbox_is_502_was_not_found(proxy: RunningProxy) -> None:
    response = httpx.get(f"{proxy.url}/health", headers=headers("sbxnothere"))
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "code": 502,
        "message": "The sandbox sbxnothere was not found",
        "sandboxId": "sbxnothere",
    }


def test_sdk_maps_unknown_sandbox_to_not_running(proxy: RunningProxy) -> None:
    sbx = sdk_sandbox(proxy.url, "any-token", "sbxnothere")
    with pytest.raises(SandboxNotRunningException, match="was not found"):
        sbx.commands.run("true")
    with pytest.raises(SandboxNotRunningException, match="was not found"):
        sbx.files.read("/etc/hostname")
    with pytest.raises(SandboxNotRunningException, match="was not found"):
        sbx.files.write("/tmp/x", "x")
    assert sbx.is_running() is False


def test_killed_sandbox_stops_answering(proxy: RunningProxy, sandbox_a: Sandbox) -> None:
    proxy.put(Route(sandbox_id="sbxdoomed", address=sandbox_a.address))
    sbx = sdk_sandbox(proxy.url, sandbox_a.token, "sbxdoomed")
    assert sbx.commands.run("echo alive").stdout == "alive\n"
    proxy.delete("sbxdoomed")
    with pytest.raises(SandboxNotRunningException):
        sbx.commands.run("echo alive")


def test_closed_port_is_502_port_not_open(proxy: RunningProxy) -> None:
    proxy.put(Route(sandbox_id="sbxclosed", address=free_loopback_address()))
    try:
        response = httpx.get(f"{proxy.url}/health", headers=headers("sbxclosed"))
        assert response.status_code == 502
        assert response.json() == {
            "code": 502,
            "message": "The sandbox is running but port is not open",
            "sandboxId": "sbxclosed",
            "port": str(ENVD_PORT),
        }
        sbx = sdk_sandbox(proxy.url, "any-token", "sbxclosed")
        with pytest.raises(SandboxUnreachableException, match="port is not open"):
            sbx.commands.run("true")
        with pytest.raises(SandboxUnreachableException, match="port is not open"):
            sbx.files.read("/etc/hostname")
    finally:
        proxy.delete("sbxclosed")


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ({}, "Missing routing information"),
        ({"E2b-Sandbox-Id": "sbxalpha1"}, "Missing header: E2b-Sandbox-Port"),
        ({"E2b-Sandbox-Port": "49983"}, "Missing header: E2b-Sandbox-Id"),
        ({"E2b-Sandbox-Id": "sbxalpha1", "E2b-Sandbox-Port": "99999"}, "Invalid sandbox port"),
        ({"E2b-Sandbox-Id": "sbxalpha1", "E2b-Sandbox-Port": "http"}, "Invalid sandbox port"),
        ({"E2b-Sandbox-Id": "../etc", "E2b-Sandbox-Port": "49983"}, "Invalid sandbox id"),
    ],
)
def test_missing_or_bad_routing_is_400(
    proxy: RunningProxy, sent: dict[str, str], message: str
) -> None:
    response = httpx.get(f"{proxy.url}/health", headers=sent)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert message in body["message"]


def test_paused_sandbox_without_resume_hook(proxy: RunningProxy, sandbox_a: Sandbox) -> None:
    proxy.put(Route(sandbox_id="sbxpaused", address=sandbox_a.address, state="paused"))
    try:
        response = httpx.get(f"{proxy.url}/health", headers=headers("sbxpaused"))
        assert response.status_code == 502
        body = response.json()
        assert "sbxpaused is paused" in body["message"]
        assert body["canAutoResume"] is False
        sbx = sdk_sandbox(proxy.url, sandbox_a.token, "sbxpaused")
        with pytest.raises(SandboxNotRunningException, match="is paused"):
            sbx.commands.run("true")
    finally:
        proxy.delete("sbxpaused")


@pytest.fixture
def waking_proxy(sandbox_a: Sandbox) -> Iterator[tuple[RunningProxy, list[WakeRequest]]]:
    """A proxy whose hook wakes `sbx*` sandboxes after 0.3 s (onto sandbox_a's envd), refuses
    `sbxgone` (no auto-resume), denies `sbxlocked` and fails on `sbxbroken`."""
    woken: list[WakeRequest] = []

    async def wake(request: WakeRequest) -> Route | None:
        woken.append(request)
        sandbox_id = request.route.sandbox_id
        if sandbox_id == "sbxgone":
            return None
        if sandbox_id == "sbxlocked":
            raise ResumeDenied("no resume without the token", sandbox_id=sandbox_id)
        if sandbox_id == "sbxbroken":
            raise RuntimeError("restore failed")
        await asyncio.sleep(0.3)
        running = Route(sandbox_id=sandbox_id, address=sandbox_a.address)
        await running_proxy.catalog.put(running)
        return running

    running_proxy = start_proxy(ProxySettings(host="127.0.0.1", port=0), memory_catalog, wake)
    yield running_proxy, woken
    stop_proxy(running_proxy)


def test_resume_hook_wakes_paused_sandbox(
    waking_proxy: tuple[RunningProxy, list[WakeRequest]], sandbox_a: Sandbox
) -> None:
    proxy, woken = waking_proxy
    proxy.put(Route(sandbox_id="sbxsleepy", address="0.0.0.0", state="paused"))
    proxy.put(Route(sandbox_id="sbxgone", address="0.0.0.0", state="paused"))
    sbx = sdk_sandbox(proxy.url, sandbox_a.token, "sbxsleepy")
    assert sbx.commands.run("echo awake").stdout == "awake\n"
    assert sbx.commands.run("echo again").stdout == "again\n"
    assert [(w.route.sandbox_id, w.port, w.access_token) for w in woken] == [
        ("sbxsleepy", ENVD_PORT, sandbox_a.token)
    ]
    response = httpx.get(f"{proxy.url}/health", headers=headers("sbxgone"))
    assert response.status_code == 502
    assert "is paused" in response.json()["message"]
    with pytest.raises(SandboxNotRunningException):
        sdk_sandbox(proxy.url, sandbox_a.token, "sbxgone").commands.run("true")


def test_concurrent_requests_share_one_wake(
    waking_proxy: tuple[RunningProxy, list[WakeRequest]], sandbox_a: Sandbox
) -> None:
    proxy, woken = waking_proxy
    proxy.put(Route(sandbox_id="sbxcrowd", address="0.0.0.0", state="paused"))

    async def many() -> list[int]:
        sent = {**headers("sbxcrowd"), "X-Access-Token": sandbox_a.token}
        async with httpx.AsyncClient(base_url=proxy.url, headers=sent) as client:
            answers = await asyncio.gather(*(client.get("/health") for _ in range(8)))
        return [a.status_code for a in answers]

    assert asyncio.run(many()) == [204] * 8
    assert [w.route.sandbox_id for w in woken] == ["sbxcrowd"]


def test_refused_and_failed_wakes(
    waking_proxy: tuple[RunningProxy, list[WakeRequest]], sandbox_a: Sandbox
) -> None:
    proxy, woken = waking_proxy
    for sandbox_id in ("sbxlocked", "sbxbroken"):
        proxy.put(Route(sandbox_id=sandbox_id, address="0.0.0.0", state="paused"))
    denied = httpx.get(f"{proxy.url}/health", headers=headers("sbxlocked"))
    assert denied.status_code == 403 and denied.json()["code"] == 403
    failed = httpx.get(f"{proxy.url}/health", headers=headers("sbxbroken"))
    assert failed.status_code == 502
    assert "could not be resumed: restore failed" in failed.json()["message"]
    # Not "was not found": the SDK cannot tell whether it still runs.
    with pytest.raises(SandboxUnreachableException):
        sdk_sandbox(proxy.url, sandbox_a.token, "sbxbroken").commands.run("true")
    # A port that needs the traffic token is checked before anything is woken.
    proxy.put(
        Route(sandbox_id="sbxprivate", address="0.0.0.0", state="paused", traffic_access_token="t")
    )
    refused = httpx.get(f"{proxy.url}/", headers=headers("sbxprivate", 8000))
    assert refused.status_code == 403
    assert "sbxprivate" not in [w.route.sandbox_id for w in woken]


def test_traffic_access_token_guards_other_ports(proxy: RunningProxy, sandbox_a: Sandbox) -> None:
    proxy.put(
        Route(sandbox_id="sbxsecured", address=sandbox_a.address, traffic_access_token="tat-1")
    )
    try:
        # envd's port is guarded by envd's own token, not the traffic token.
        envd = httpx.get(f"{proxy.url}/health", headers=headers("sbxsecured"))
        assert envd.status_code == 204
        missing = httpx.get(f"{proxy.url}/", headers=headers("sbxsecured", 8000))
        assert missing.status_code == 403
        assert "is missing" in missing.json()["message"]
        wrong = httpx.get(
            f"{proxy.url}/",
            headers={**headers("sbxsecured", 8000), "E2B-Traffic-Access-Token": "nope"},
        )
        assert wrong.status_code == 403
        assert "is invalid" in wrong.json()["message"]
        right = httpx.get(
            f"{proxy.url}/",
            headers={**headers("sbxsecured", 8000), "E2B-Traffic-Access-Token": "tat-1"},
        )
        assert right.status_code == 502  # passed the check; nothing listens on 8000
        assert "port is not open" in right.json()["message"]
    finally:
        proxy.delete("sbxsecured")


def test_upstream_hanging_up_before_answering_is_502(proxy: RunningProxy) -> None:
    address = free_loopback_address(8081)
    server = proxy.run(start_hangup_server(address, 8081))
    proxy.put(Route(sandbox_id="sbxhangup", address=address))
    try:
        response = httpx.get(f"{proxy.url}/", headers=headers("sbxhangup", 8081))
        assert response.status_code == 502
        assert "did not answer on port 8081" in response.json()["message"]
    finally:
        server.close()
        proxy.delete("sbxhangup")


def test_upstream_breaking_mid_body_breaks_the_client_response(proxy: RunningProxy) -> None:
    address = free_loopback_address(8082)
    partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    server = proxy.run(start_hangup_server(address, 8082, partial))
    proxy.put(Route(sandbox_id="sbxbroken", address=address))
    try:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{proxy.url}/", headers=headers("sbxbroken", 8082))
    finally:
        server.close()
        proxy.delete("sbxbroken")
