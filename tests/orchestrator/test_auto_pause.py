"""Pause at the end time instead of a kill (`auto_pause`), through the real gRPC server.

The fake driver pauses with SIGSTOP, so a paused sandbox's envd really stops answering and a
resumed one really answers again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.models import utcnow
from corral.runtime.errors import DriverError
from tests.orchestrator.conftest import Harness, eventually
from tests.orchestrator.test_sandboxes import sdk_sandbox


async def test_auto_pause_at_timeout_then_resume_and_pause_again(harness: Harness) -> None:
    client = await harness.start()
    made = await client.create(
        "sbx-nap", "base", timeout_seconds=1, auto_pause=True, auto_resume=True,
        envd_access_token="tok",
    )  # fmt: skip
    assert (made.auto_pause, made.auto_resume, made.timeout_seconds) == (True, True, 1)
    runtime_id = harness.driver.runtime_id_at(made.address)
    await eventually(lambda: is_paused(client, "sbx-nap"), within=5)
    assert runtime_id not in harness.driver.destroyed
    assert harness.driver.sandboxes[runtime_id].runtime.state == "paused"
    assert [s.sandbox_id for s in await client.list(state="paused")] == ["sbx-nap"]
    # Its clock stopped: sweeps (every 0.1 s) pass it by.
    await asyncio.sleep(0.5)
    paused = await client.get("sbx-nap")
    assert paused.state == "paused" and paused.end_time <= utcnow()
    assert (await client.info()).paused == 1

    resumed = await client.resume("sbx-nap", timeout_seconds=1)
    assert resumed.state == "running" and resumed.end_time > utcnow()
    assert (await sdk_sandbox(resumed).commands.run("echo awake")).stdout == "awake\n"
    await eventually(lambda: is_paused(client, "sbx-nap"), within=5)

    await client.delete("sbx-nap")
    assert runtime_id in harness.driver.destroyed
    assert await client.list() == []


async def test_without_auto_pause_the_end_is_a_kill(harness: Harness) -> None:
    client = await harness.start()
    made = await client.create("sbx-end", "base", timeout_seconds=1)
    assert (made.auto_pause, made.auto_resume) == (False, False)
    runtime_id = harness.driver.runtime_id_at(made.address)
    await eventually(lambda: runtime_id in harness.driver.destroyed, within=5)
    assert await client.list() == []


async def test_a_failed_pause_at_timeout_kills(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await harness.start()

    async def broken_pause(*args: object, **kwargs: object) -> None:
        raise DriverError("checkpoint failed")

    monkeypatch.setattr(harness.driver, "pause", broken_pause)
    made = await client.create("sbx-stuck", "base", timeout_seconds=1, auto_pause=True)
    runtime_id = harness.driver.runtime_id_at(made.address)
    await eventually(lambda: runtime_id in harness.driver.destroyed, within=5)
    assert await client.list() == []


async def test_lifetime_is_recorded_however_it_was_given(harness: Harness) -> None:
    client = await harness.start(default_timeout=77)
    by_seconds = await client.create("sbx-a", "base", timeout_seconds=40)
    by_end = await client.create("sbx-b", "base", end_time=utcnow() + timedelta(seconds=90))
    by_default = await client.create("sbx-c", "base")
    assert by_seconds.timeout_seconds == 40
    assert 89 <= by_end.timeout_seconds <= 90
    assert by_default.timeout_seconds == 77


async def test_a_paused_sandbox_stays_paused_across_a_restart(harness: Harness) -> None:
    client = await harness.start()
    made = await client.create("sbx-keep", "base", timeout_seconds=1, auto_pause=True)
    runtime_id = harness.driver.runtime_id_at(made.address)
    await eventually(lambda: is_paused(client, "sbx-keep"), within=5)
    await harness.stop()

    client = await harness.start()
    await asyncio.sleep(0.5)
    kept = await client.get("sbx-keep")
    assert kept.state == "paused" and kept.auto_pause
    assert runtime_id not in harness.driver.destroyed
    await client.delete("sbx-keep")
    assert runtime_id in harness.driver.destroyed


async def is_paused(client: OrchestratorClient, sandbox_id: str) -> bool:
    return (await client.get(sandbox_id)).state == "paused"
