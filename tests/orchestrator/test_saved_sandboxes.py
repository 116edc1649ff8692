"""Pauses that save a sandbox, snapshots and forks, on the real runtimes (crun and gVisor).

A counter process keeps its count in memory and writes it to a file; what survives each kind
of save says whether memory, processes and files were kept. The artifact store is a directory
of the test, shared by the nodes that take over each other's pauses.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from e2b import AuthenticationException

from corral.orchestrator.errors import SandboxNotFound, SnapshotNotFound, StateConflict
from tests.orchestrator import test_real_runtimes as real
from tests.orchestrator.test_real_runtimes import RealNode, sdk
from tests.runtime.drivers import require_runtime

pytestmark = [pytest.mark.slow, pytest.mark.root]

node = real.node
"""The real node of `test_real_runtimes`, on each runtime."""

COUNTER = (
    "python3 -c \"import os,time\ni=0\nwhile True:\n i+=1; open('/tmp/m','w').write(str(i));"
    " os.replace('/tmp/m','/tmp/n');"
    ' time.sleep(0.05)"'
)
TOKEN = "tok-saved-0123456789"


async def _count(sandbox) -> int:  # type: ignore[no-untyped-def]
    return int((await sdk(sandbox).commands.run("cat /tmp/n")).stdout)


async def _counter_running(sandbox) -> bool:  # type: ignore[no-untyped-def]
    result = await sdk(sandbox).commands.run("pgrep -f 'while Tru[e]' || true")
    return bool(result.stdout.strip())


def _artifacts(node: RealNode) -> Path:
    return node.data_dir.parent / "artifacts"


def _stored(node: RealNode, snapshot_id: str) -> bool:
    """In the local store: its meta and its state (a directory of hard links)."""
    base = _artifacts(node) / "snapshots" / snapshot_id
    return base.with_name(f"{snapshot_id}.json").is_file() and base.is_dir()


async def test_filesystem_pause_keeps_files_not_processes(node: RealNode) -> None:
    client = await node.start(pool_size=0, artifacts=str(_artifacts(node)))
    sandbox = await client.create(
        "sbxfspause000000001", "base", envd_access_token=TOKEN, env_vars={"KEPT": "yes"}
    )
    await sdk(sandbox).commands.run("echo on-disk > /home/user/f")
    await sdk(sandbox).commands.run("echo before-the-pause")
    await sdk(sandbox).commands.run(COUNTER, background=True)
    await asyncio.sleep(0.3)
    paused = await client.pause(sandbox.sandbox_id, memory=False)
    assert paused.state == "paused" and not paused.paused_memory
    # Saved in the store, nothing left on the host.
    assert _stored(node, f"paused-{sandbox.sandbox_id}")
    assert not any((node.data_dir / "sandboxes").iterdir())
    resumed = await client.resume(sandbox.sandbox_id, timeout_seconds=300)
    assert resumed.state == "running"
    run = sdk(resumed).commands.run
    assert (await run("cat /home/user/f")).stdout.strip() == "on-disk"
    assert (await run("echo $KEPT")).stdout.strip() == "yes"
    assert not await _counter_running(resumed)
    # envd's log runs on across the pause.
    logged = [e.message for e in await client.logs(sandbox.sandbox_id)]
    assert "before-the-pause" in logged and logged.count("process started") >= 4
    # The same token guards it; the pause's snapshot is gone with the resume.
    with pytest.raises(AuthenticationException):
        await sdk(replace(resumed, envd_access_token="x")).commands.run("true")
    assert not _stored(node, f"paused-{sandbox.sandbox_id}")


async def test_full_pause_is_saved_under_gvisor_and_frozen_under_crun(node: RealNode) -> None:
    client = await node.start(pool_size=0, artifacts=str(_artifacts(node)))
    sandbox = await client.create("sbxfullpause0000001", "base", envd_access_token=TOKEN)
    await sdk(sandbox).commands.run(COUNTER, background=True)
    await asyncio.sleep(0.3)
    paused = await client.pause(sandbox.sandbox_id)
    assert paused.paused_memory
    saved = _stored(node, f"paused-{sandbox.sandbox_id}")
    assert saved == (node.runtime == "runsc")
    resumed = await client.resume(sandbox.sandbox_id, timeout_seconds=300)
    first = await _count(resumed)
    await asyncio.sleep(0.3)
    assert await _count(resumed) > first
    logged = [e.message for e in await client.logs(sandbox.sandbox_id)]
    assert logged.count("process started") >= 3  # the counter's, then the two `cat`s


async def test_snapshot_children_share_memory_then_diverge(node: RealNode) -> None:
    client = await node.start(pool_size=0, artifacts=str(_artifacts(node)))
    parent = await client.create("sbxsnapparent000001", "base", envd_access_token=TOKEN)
    await sdk(parent).commands.run("echo from-parent > /home/user/f")
    await sdk(parent).commands.run(COUNTER, background=True)
    await asyncio.sleep(0.5)
    if node.runtime == "crun":
        with pytest.raises(StateConflict, match="cannot save a sandbox's memory"):
            await client.snapshot(parent.sandbox_id, "snapcrunmemory01")
        info = await client.snapshot(parent.sandbox_id, "snapcrunfiles01", memory=False)
        assert not info.memory
        child = await client.create(
            "sbxsnapchild0000001", "base", snapshot_id=info.snapshot_id, envd_access_token="c1"
        )
        assert (await sdk(child).commands.run("cat /home/user/f")).stdout.strip() == "from-parent"
        assert not await _counter_running(child)
        return
    info = await client.snapshot(parent.sandbox_id, "snapgvisor000001")
    assert info.memory and info.size_bytes > 0 and info.template_id == "base"
    # The parent runs on.
    before = await _count(parent)
    await asyncio.sleep(0.3)
    assert await _count(parent) > before
    children = await asyncio.gather(
        *(
            client.create(
                f"sbxsnapchild000000{i}",
                "base",
                snapshot_id=info.snapshot_id,
                envd_access_token=f"child-token-{i}",
            )
            for i in range(3)
        )
    )
    for i, child in enumerate(children):
        assert child.envd_access_token == f"child-token-{i}"
        assert await _counter_running(child)
        assert (await sdk(child).commands.run("cat /home/user/f")).stdout.strip() == "from-parent"
        await sdk(child).commands.run(f"echo child-{i} > /home/user/f")
    for i, child in enumerate(children):
        assert (await sdk(child).commands.run("cat /home/user/f")).stdout.strip() == f"child-{i}"
        # The parent's token no longer opens a child.
        stale = replace(child, envd_access_token=TOKEN)
        with pytest.raises(AuthenticationException):
            await sdk(stale).commands.run("true")
    assert (await sdk(parent).commands.run("cat /home/user/f")).stdout.strip() == "from-parent"
    await client.delete_snapshot(info.snapshot_id)
    assert not _stored(node, info.snapshot_id)
    assert not (_artifacts(node) / "snapshots" / info.snapshot_id).exists()
    with pytest.raises(SnapshotNotFound):
        await client.create("sbxsnapchild0000009", "base", snapshot_id=info.snapshot_id)


@pytest.mark.parametrize("runtime", ["runsc"])
async def test_another_node_resumes_a_saved_pause(
    runtime: str, base_rootfs: Path, envd_dist: Path, tmp_path: Path
) -> None:
    """The node that paused it is gone; a node sharing the artifact store resumes it."""
    require_runtime(runtime)
    artifacts = str(tmp_path / "artifacts")
    first = RealNode(runtime, tmp_path / "node-a", base_rootfs, envd_dist)
    second = RealNode(runtime, tmp_path / "node-b", base_rootfs, envd_dist)
    try:
        client = await first.start(pool_size=0, artifacts=artifacts)
        sandbox = await client.create("sbxmigrating0000001", "base", envd_access_token=TOKEN)
        await sdk(sandbox).commands.run("echo travels > /home/user/f")
        await sdk(sandbox).commands.run(COUNTER, background=True)
        await asyncio.sleep(0.3)
        await client.pause(sandbox.sandbox_id)
        await first.stop()
        other = await second.start(pool_size=0, artifacts=artifacts)
        with pytest.raises(SandboxNotFound):
            await other.resume(sandbox.sandbox_id, timeout_seconds=60, team_id="another-team")
        resumed = await other.resume(sandbox.sandbox_id, timeout_seconds=60)
        assert (await sdk(resumed).commands.run("cat /home/user/f")).stdout.strip() == "travels"
        first_count = await _count(resumed)
        await asyncio.sleep(0.3)
        assert await _count(resumed) > first_count
        # The first node, back, learns that its pause was taken over.
        await second.stop()
        client = await first.start(pool_size=0, artifacts=artifacts)
        with pytest.raises(SandboxNotFound):
            await client.get(sandbox.sandbox_id)
    finally:
        await first.stop()
        second_client = await second.start(pool_size=0, artifacts=artifacts)
        for s in await second_client.list():
            await second_client.delete(s.sandbox_id)
        await second.stop()
