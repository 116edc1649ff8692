"""Pause at the end time and wake on traffic, as the official SDK asks for them.

API, proxy and orchestrator as `corral up` wires them (the proxy's auto-resume hook is
`corral.up.wake_hook`), on the tests' fake driver: sandboxes are real envd processes on
loopback, paused by SIGSTOP, so a paused one really answers nothing until it is resumed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2b import (
    AsyncSandbox,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxQuery,
    SandboxState,
)
from fastapi import FastAPI

import tests.api.harness as harness
from corral.api.app import create_app
from corral.catalog.types import Route
from corral.envd import ENVD_PORT
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings
from corral.up import wake_hook
from tests.api.harness import Api, serve_api

PAUSE_ON_TIMEOUT: Any = {"on_timeout": "pause", "auto_resume": True}


@dataclass
class Stack:
    api: Api
    app: FastAPI
    proxy_url: str


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    apps: list[FastAPI] = []

    def capture(*args: Any, **kwargs: Any) -> FastAPI:
        apps.append(create_app(*args, **kwargs))
        return apps[-1]

    monkeypatch.setattr(harness, "create_app", capture)
    async with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}", tmp_path) as api:
        (app,) = apps
        proxy = ProxyServer(
            ProxySettings(host="127.0.0.1", port=0), api.catalog, wake_paused=wake_hook(app)
        )
        await proxy.start()
        monkeypatch.setenv("E2B_API_KEY", api.key)
        monkeypatch.setenv("E2B_API_URL", api.url)
        monkeypatch.setenv("E2B_SANDBOX_URL", proxy.url)
        monkeypatch.delenv("E2B_DOMAIN", raising=False)
        try:
            yield Stack(api, app, proxy.url)
        finally:
            await proxy.stop()


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def state_is(sbx: AsyncSandbox, state: SandboxState) -> bool:
    return (await sbx.get_info()).state == state


async def resumes(api: Api, sbx: AsyncSandbox, expected: int) -> list[dict[str, Any]]:
    """The sandbox's `resumed` events, once `expected` of them are in (they are written after
    the answer) and a moment more has shown no other follows."""

    async def kinds() -> list[dict[str, Any]]:
        events = await api.store.events(sbx.sandbox_id, api.team_id)
        return [e.data for e in events if e.kind == "resumed"]

    async def enough() -> bool:
        return len(await kinds()) >= expected

    await until(enough)
    await asyncio.sleep(0.2)
    return await kinds()


async def test_lifecycle_is_stored_and_reported(stack: Stack) -> None:
    plain = await AsyncSandbox.create()
    napping = await AsyncSandbox.create(timeout=60, lifecycle=PAUSE_ON_TIMEOUT)
    manual = await AsyncSandbox.create(lifecycle={"on_timeout": "pause"})
    assert (await plain.get_info()).lifecycle == {"on_timeout": "kill", "auto_resume": False}
    assert (await napping.get_info()).lifecycle == {"on_timeout": "pause", "auto_resume": True}
    assert (await manual.get_info()).lifecycle == {"on_timeout": "pause", "auto_resume": False}
    async with stack.api.client() as client:
        both = {"templateID": "base", "autoPause": True, "autoPauseMemory": False}
        refused = await client.post("/v2/sandboxes", json={**both, "autoResume": {"enabled": True}})
        assert refused.status_code == 400 and "autoResume" in refused.json()["message"]
        assert (await client.post("/sandboxes/nosuchsbx/pause", json={})).status_code == 404
    for sbx in (plain, napping, manual):
        await sbx.kill()


async def test_paused_at_timeout_woken_by_traffic_paused_again_then_killed(stack: Stack) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await sbx.files.write("/tmp/kept.txt", "still here")
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    paused = await AsyncSandbox.list(SandboxQuery(state=[SandboxState.PAUSED])).next_items()
    assert [s.sandbox_id for s in paused] == [sbx.sandbox_id]
    running = await AsyncSandbox.list(SandboxQuery(state=[SandboxState.RUNNING])).next_items()
    assert running == []
    assert await sbx.pause() is False  # already paused: E2B's 409

    # The next envd call wakes it, waits, and succeeds; memory and files are as they were.
    started = time.monotonic()
    assert (await sbx.files.read("/tmp/kept.txt")) == "still here"
    woke_in = time.monotonic() - started
    info = await sbx.get_info()
    assert info.state == SandboxState.RUNNING
    assert await resumes(stack.api, sbx, 1) == [{"by": "traffic"}]
    assert woke_in < 5
    # It got its lifetime again (1 s), and pauses again at its new end.
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    assert (await sbx.commands.run("echo again")).stdout == "again\n"
    assert len(await resumes(stack.api, sbx, 2)) == 2

    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    assert await sbx.kill() is True
    assert await stack.api.catalog.get(sbx.sandbox_id) is None
    with pytest.raises(SandboxNotFoundException):
        await AsyncSandbox.get_info(sbx.sandbox_id)
    assert stack.api.driver.sandboxes == {}


async def test_many_requests_during_a_wake_resume_it_once(stack: Stack) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    results = await asyncio.gather(*(sbx.commands.run(f"echo {i}") for i in range(6)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert len(await resumes(stack.api, sbx, 1)) == 1
    await sbx.kill()


async def test_without_auto_resume_traffic_is_refused_and_connect_resumes(stack: Stack) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle={"on_timeout": "pause"})
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    with pytest.raises(SandboxNotRunningException, match="was not found"):
        await sbx.commands.run("true")
    assert await sbx.is_running() is False
    assert await state_is(sbx, SandboxState.PAUSED)
    await sbx.connect(timeout=60)
    assert (await sbx.commands.run("echo back")).stdout == "back\n"
    assert await resumes(stack.api, sbx, 1) == [{"by": "connect"}]
    await sbx.kill()


async def test_envd_traffic_without_the_token_does_not_wake(stack: Stack) -> None:
    sbx = await AsyncSandbox.create(timeout=1, lifecycle=PAUSE_ON_TIMEOUT)
    await until(lambda: state_is(sbx, SandboxState.PAUSED))
    route = {"E2b-Sandbox-Id": sbx.sandbox_id, "E2b-Sandbox-Port": str(ENVD_PORT)}
    async with httpx.AsyncClient(base_url=stack.proxy_url, headers=route) as client:
        anonymous = await client.get("/health")
        assert anonymous.status_code == 403, anonymous.text
        forged = await client.get("/health", headers={"X-Access-Token": "not-the-token"})
        assert forged.status_code == 403
    assert await state_is(sbx, SandboxState.PAUSED)
    assert await sbx.is_running() is True  # the SDK sends its token: this one wakes it
    await sbx.kill()


async def test_traffic_on_a_stale_running_route_finds_the_sandbox_paused(stack: Stack) -> None:
    """The node paused it (its end time) and the catalog still says running, at an address
    where nothing answers now: the request is not a 502, it wakes the sandbox and gets there."""
    sbx = await AsyncSandbox.create(timeout=60, lifecycle=PAUSE_ON_TIMEOUT)
    await sbx.files.write("/tmp/kept.txt", "found")
    ctx = stack.app.state.ctx
    (node,) = ctx.nodes.nodes()
    await node.client.pause(sbx.sandbox_id)  # behind the API's back, as a timeout does

    async def synced() -> bool:
        route = await stack.api.catalog.get(sbx.sandbox_id)
        return route is not None and route.state == "paused"

    await until(synced)
    stale = Route(sandbox_id=sbx.sandbox_id, address="127.0.0.1", node_id=node.id)
    await stack.api.catalog.put(stale)  # nothing listens on 127.0.0.1:49983
    assert (await sbx.files.read("/tmp/kept.txt")) == "found"
    assert await resumes(stack.api, sbx, 1) == [{"by": "traffic"}]
    await sbx.kill()
