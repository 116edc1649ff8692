"""`ApiWaker`: what the proxy makes of each answer of the API's internal wake route.

Unit tests on httpx's `MockTransport` (the route itself is tested against the real API in
tests/api/test_auto_resume_cluster.py), plus one real proxy whose API is not there at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from corral.catalog.memory import MemoryCatalog
from corral.catalog.types import Route
from corral.proxy.apiwake import ApiWaker
from corral.proxy.app import WakeRequest
from corral.proxy.errors import ResumeDenied, ResumeFailed
from corral.proxy.main import api_waker
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings
from tests.conftest import free_port

SECRET = "proxy-test-secret-0123456789"
PAUSED = Route("sbx1", "10.11.0.2", node_id="n1", state="paused", traffic_access_token="tt")
REQUEST = WakeRequest(PAUSED, 49983, "envd-token")


def waker(answer: Callable[[httpx.Request], httpx.Response]) -> ApiWaker:
    return ApiWaker("http://api.test", SECRET, transport=httpx.MockTransport(answer))


async def test_200_is_the_running_route_and_the_call_carries_what_the_api_needs() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        route = {"sandboxId": "sbx1", "address": "10.11.0.6", "nodeId": "n2", "state": "running"}
        return httpx.Response(200, json=route)

    hook = waker(answer)
    woken = await hook(REQUEST)
    await hook.aclose()
    assert woken == Route("sbx1", "10.11.0.6", node_id="n2", traffic_access_token="tt")
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/internal/sandboxes/sbx1/wake"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    sent = json.loads(request.content)
    assert sent == {"nodeId": "n1", "port": 49983, "accessToken": "envd-token"}


async def test_404_means_not_to_be_woken() -> None:
    hook = waker(lambda _: httpx.Response(404, json={"code": 404, "message": "gone"}))
    assert await hook(REQUEST) is None
    await hook.aclose()


async def test_403_is_a_refusal_with_the_apis_words() -> None:
    refusal = {"code": 403, "message": "needs its access token"}
    hook = waker(lambda _: httpx.Response(403, json=refusal))
    with pytest.raises(ResumeDenied, match="needs its access token") as denied:
        await hook(REQUEST)
    assert denied.value.status == 403 and denied.value.sandbox_id == "sbx1"
    await hook.aclose()


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, {"code": 401, "message": "invalid internal secret"}, "401: invalid internal"),
        (500, {"code": 500, "message": "internal server error"}, "500: internal server"),
        (503, "upstream down", "503: upstream down"),
        (200, {"address": "x"}, "not a route"),
        (200, "not json", "not a route"),
    ],
)
async def test_anything_else_is_a_failed_resume(status: int, body: object, reason: str) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    hook = waker(answer)
    with pytest.raises(ResumeFailed, match=reason):
        await hook(REQUEST)
    await hook.aclose()


def test_corral_proxy_wakes_through_the_api_only_when_url_and_secret_are_set() -> None:
    assert api_waker(ProxySettings()) is None
    assert api_waker(ProxySettings(api_url="http://127.0.0.1:3000")) is None
    assert api_waker(ProxySettings(api_secret=SecretStr(SECRET))) is None
    both = ProxySettings(api_url="http://127.0.0.1:3000", api_secret=SecretStr(SECRET))
    assert isinstance(api_waker(both), ApiWaker)


async def test_a_proxy_whose_api_is_down_answers_could_not_be_resumed() -> None:
    catalog = MemoryCatalog()
    await catalog.put(PAUSED)
    hook = ApiWaker(f"http://127.0.0.1:{free_port()}", SECRET, timeout=5)
    async with ProxyServer(
        ProxySettings(host="127.0.0.1", port=0), catalog, wake_paused=hook
    ) as proxy:
        headers = {"E2b-Sandbox-Id": "sbx1", "E2b-Sandbox-Port": "49983"}
        async with httpx.AsyncClient(base_url=proxy.url, headers=headers) as client:
            answer = await client.get("/health")
    await hook.aclose()
    assert answer.status_code == 502
    assert (
        answer.json()["message"] == "The sandbox sbx1 could not be resumed: the API did not answer"
    )
