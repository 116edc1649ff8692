"""A restarted orchestrator re-adopts its sandboxes and removes what it cannot account for."""

from __future__ import annotations

import asyncio

from corral.runtime.types import Resources, SandboxSpec
from tests.orchestrator.conftest import Harness, eventually
from tests.orchestrator.test_sandboxes import sdk_sandbox


async def test_restart_readopts_sandboxes_and_cleans_the_rest(harness: Harness) -> None:
    client = await harness.start()
    kept = await client.create(
        "sbx-kept",
        "base",
        team_id="team-1",
        metadata={"purpose": "survive a restart"},
        env_vars={"KEPT": "yes"},
        envd_access_token="tok-kept",
        timeout_seconds=600,
    )
    paused = await client.create("sbx-paused", "base", metadata={"p": "1"})
    await client.pause("sbx-paused")
    gone = await client.create("sbx-gone", "base")
    runtime = {s.sandbox_id: harness.driver.runtime_id_at(s.address) for s in (kept, paused, gone)}
    await harness.stop()

    # While the orchestrator is down: one sandbox vanishes from the host, and a half-made one
    # (no record: a create cut short by a crash) appears.
    await harness.driver.lose(runtime["sbx-gone"])
    spec = SandboxSpec("rt-halfmade", "base", harness.templates.rootfs("base"), Resources())
    await harness.driver.create(spec)

    client = await harness.start()
    assert harness.driver.cleanup_calls[-1] == {runtime["sbx-kept"], runtime["sbx-paused"]}
    assert "rt-halfmade" not in harness.driver.sandboxes
    assert {s.sandbox_id for s in await client.list()} == {"sbx-kept", "sbx-paused"}
    assert not (harness.data_dir / "orchestrator" / "sandboxes" / "sbx-gone.json").exists()

    again = await client.get("sbx-kept")
    assert again == kept  # same id, metadata, address, token, start and end time
    assert (await client.get("sbx-paused")).state == "paused"
    result = await sdk_sandbox(again).commands.run("echo $KEPT")
    assert result.stdout == "yes\n"

    # Their timers run on: the reaper kills a re-adopted sandbox at its end time.
    await client.set_timeout("sbx-kept", timeout_seconds=1)
    await eventually(lambda: runtime["sbx-kept"] in harness.driver.destroyed, within=5)
    await client.resume("sbx-paused", timeout_seconds=60)
    assert (await client.get("sbx-paused")).state == "running"


async def test_a_sandbox_expired_while_down_is_killed_on_start(harness: Harness) -> None:
    client = await harness.start()
    sandbox = await client.create("sbx-late", "base", timeout_seconds=1)
    runtime_id = harness.driver.runtime_id_at(sandbox.address)
    await harness.stop()
    await asyncio.sleep(1.2)  # its end passes while no orchestrator runs
    assert runtime_id in harness.driver.sandboxes
    await harness.start()
    await eventually(lambda: runtime_id in harness.driver.destroyed, within=5)


async def test_restart_with_pools_drops_pool_sandboxes(harness: Harness) -> None:
    client = await harness.start(pool_size=1)
    await eventually(lambda: len(harness.driver.sandboxes) == 1)
    sandbox = await client.create("sbx-a", "base")
    await eventually(lambda: len(harness.driver.sandboxes) == 2)  # refilled
    await harness.stop()
    assert set(harness.driver.sandboxes) == {harness.driver.runtime_id_at(sandbox.address)}
    client = await harness.start(pool_size=0)
    assert harness.driver.cleanup_calls[-1] == set(harness.driver.sandboxes)
    assert [s.sandbox_id for s in await client.list()] == ["sbx-a"]
