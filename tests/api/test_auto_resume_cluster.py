"""Auto-resume in a cluster: a standalone proxy wakes paused sandboxes through the API.

The API is served for real on loopback (with `CORRAL_API_INTERNAL_SECRET`), the proxy is its
own `ProxyServer` whose only way to the API is `ApiWaker`'s HTTP call to the internal wake
route, as `corral proxy` wires it; both read one catalog (a Redis catalog in a real cluster).
Sandboxes are the fake driver's real envd processes, paused by SIGSTOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2b import AsyncSandbox, SandboxNotRunningException, SandboxState
from pydantic import ValidationError

from corral.api.settings import ApiSettings
from corral.envd import ENVD_PORT
from corral.proxy.apiwake import ApiWaker
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings
from tests.api.harness import Api, serve_api
from tests.api.test_auto_resume import PAUSE_ON_TIMEOUT, resumes, state_is, until

INTERNAL_SECRET = "internal-test-secret-0123456789"
WAKE = "/internal/sandboxes/{}/wake"


@dataclass
class Cluster:
    api: Api
    proxy_url: str

    def internal(self, secret: str | None = INTERNAL_SECRET) -> httpx.AsyncClient:
        """A client of the API's internal route, as a proxy would call it."""
        headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
        return httpx.AsyncClient(base_url=self.api.url, headers=headers, timeout=30)


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_secret: str | None
) -> AsyncIterator[Cluster]:
    """API (internal secret `api_secret`, or none) and a proxy that wakes through it."""
    if api_secret is None:
        monkeypatch.delenv("CORRAL_API_INTERNAL_SECRET", raising=False)
    else:
        monkeypatch.setenv("CORRAL_API_INTERNAL_SECRET", api_secret)
    async with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}", tmp_path) as api:
        waker = ApiWaker(api.url, INTERNAL_SECRET)
        proxy = ProxyServer(ProxySettings(host="127.0.0.1", port=0), api.catalog, wake_paused=waker)
        await proxy.start()
        monkeypatch.setenv("E2B_API_KEY", api.key)
        monkeypatch.setenv("E2B_API_URL", api.url)
        monkeypatch.setenv("E2B_SANDBOX_URL", proxy.url)
        monkeypatch.delenv("E2B_DOMAIN", raising=False)
        try:
            yield Cluster(api, proxy.url)
        finally:
            await proxy.stop()
            await waker.aclose()


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    async with cluster(tmp_path, monkeypatch, INTERNAL_SECRET) as running:
        yield running


async def test_paused_at_timeout_woken_through_the_api(stack: Cluster) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await sbx.files.write("/tmp/kept.txt", "still here")
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    paused = await stack.api.catalog.get(sbx.sandbox_id)
    assert paused is not None and paused.state == "paused"

    started = time.monotonic()
    assert (await sbx.files.read("/tmp/kept.txt")) == "still here"
    assert time.monotonic() - started < 5
    assert await state_is(sbx, SandboxState.RUNNING)
    assert await resumes(stack.api, sbx, 1) == [{"by": "traffic"}]

    # Paused again at its new end; six requests at once wake it once, through one API call.
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    results = await asyncio.gather(*(sbx.commands.run(f"echo {i}") for i in range(6)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert len(await resumes(stack.api, sbx, 2)) == 2
    await sbx.kill()


async def test_envd_traffic_without_the_token_is_refused(stack: Cluster) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    route = {"E2b-Sandbox-Id": sbx.sandbox_id, "E2b-Sandbox-Port": str(ENVD_PORT)}
    async with httpx.AsyncClient(base_url=stack.proxy_url, headers=route) as client:
        anonymous = await client.get("/health")
        assert anonymous.status_code == 403, anonymous.text
        assert "X-Access-Token" in anonymous.json()["message"]
        assert anonymous.json()["sandboxId"] == sbx.sandbox_id
        forged = await client.get("/health", headers={"X-Access-Token": "not-the-token"})
        assert forged.status_code == 403
    assert await state_is(sbx, SandboxState.PAUSED)
    assert await resumes(stack.api, sbx, 0) == []
    assert await sbx.is_running() is True  # the SDK sends its token: this one wakes it
    await sbx.kill()


async def test_without_auto_resume_the_proxy_answers_paused(stack: Cluster) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle={"on_timeout": "pause"})
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    with pytest.raises(SandboxNotRunningException, match="was not found"):
        await sbx.commands.run("true")
    assert await state_is(sbx, SandboxState.PAUSED)
    await sbx.kill()


async def test_internal_route_needs_the_secret_and_is_not_documented(stack: Cluster) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    wake = {"nodeId": None, "port": ENVD_PORT, "accessToken": None}
    for secret in (None, "wrong-secret-but-long-enough", INTERNAL_SECRET[:-1]):
        async with stack.internal(secret) as client:
            refused = await client.post(WAKE.format(sbx.sandbox_id), json=wake)
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == 401
    async with httpx.AsyncClient(base_url=stack.api.url) as client:
        basic = await client.post(
            WAKE.format(sbx.sandbox_id),
            json=wake,
            headers={"Authorization": f"Basic {INTERNAL_SECRET}"},
        )
        assert basic.status_code == 401
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not any(path.startswith("/internal") for path in paths)

    async with stack.internal() as client:
        gone = await client.post(WAKE.format("nosuchsandbox"), json=wake)
        assert gone.status_code == 404 and gone.json()["code"] == 404
        bad = await client.post(WAKE.format(sbx.sandbox_id), json={"port": "49983"})
        assert bad.status_code == 400
        denied = await client.post(WAKE.format(sbx.sandbox_id), json=wake)
        assert denied.status_code == 403 and "access token" in denied.json()["message"]
        assert await state_is(sbx, SandboxState.PAUSED)
        # Not envd's port: no token needed (E2B's rule); the answer is the running route.
        woken = await client.post(WAKE.format(sbx.sandbox_id), json={**wake, "port": 8080})
    assert woken.status_code == 200, woken.text
    route = await stack.api.catalog.get(sbx.sandbox_id)
    assert route is not None
    assert woken.json() == {
        "sandboxId": sbx.sandbox_id,
        "address": route.address,
        "nodeId": "node-1",
        "state": "running",
    }
    assert await state_is(sbx, SandboxState.RUNNING)
    await sbx.kill()


async def test_without_a_secret_the_route_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with cluster(tmp_path, monkeypatch, None) as running:
        async with running.internal() as client:
            missing = await client.post(WAKE.format("anything"), json={"port": ENVD_PORT})
        assert missing.status_code == 404
        assert missing.json() == {"code": 404, "message": "Not Found"}
        # The proxy's call gets that 404 too: a paused sandbox is answered as paused.
        sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
        await until(lambda: state_is(sbx, SandboxState.PAUSED))
        with pytest.raises(SandboxNotRunningException):
            await sbx.commands.run("true")
        await sbx.kill()


def test_internal_secret_is_long_enough() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        ApiSettings(internal_secret="short")
    assert ApiSettings(internal_secret=INTERNAL_SECRET).internal_secret is not None
