"""Pause modes, snapshots and forks through `corral up`, with the official SDK only.

A Python process counts in memory and writes the count to a file every 50 ms: after a full
pause it counts on from where it was; after a filesystem pause the file is there and the
process is not. Under gVisor memory is saved (checkpoints); under crun a full pause freezes the
sandbox in place and memory snapshots are refused, as this host's crun cannot checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2b import Sandbox, SandboxException, SandboxState

from tests.e2e.conftest import Platform, remove_everything
from tests.e2e.launch import start_corral_up, stop_corral_up
from tests.e2e.test_auto_pause import runtime_name, wait_for_state

pytestmark = [pytest.mark.slow, pytest.mark.root]

COUNTER = """\
import os, time
i = 0
while True:
    i += 1
    with open('/tmp/count.tmp', 'w') as f:
        f.write(str(i))
    os.replace('/tmp/count.tmp', '/tmp/count')
    time.sleep(0.05)
"""
ALIVE = "pgrep -f 'counte[r].py' >/dev/null && echo alive || echo gone"


def start_counter(sbx: Sandbox) -> None:
    sbx.files.write("/home/user/counter.py", COUNTER)
    sbx.files.write("/home/user/kept.txt", "on disk")
    sbx.commands.run("python3 /home/user/counter.py", background=True).disconnect()
    deadline = time.monotonic() + 10
    while count(sbx) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def count(sbx: Sandbox) -> int:
    out = sbx.commands.run("cat /tmp/count 2>/dev/null || echo 0").stdout.strip()
    return int(out or 0)


def alive(sbx: Sandbox) -> bool:
    return sbx.commands.run(ALIVE).stdout.strip() == "alive"


def test_full_pause_resumes_memory_and_files(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(timeout=120)
    try:
        start_counter(sbx)
        assert sbx.pause() is True
        assert Sandbox.get_info(sbx.sandbox_id).state == SandboxState.PAUSED
        assert sbx.pause() is False  # already paused
        resumed = Sandbox.connect(sbx.sandbox_id, timeout=120)
        first = count(resumed)
        assert alive(resumed) and first > 5
        time.sleep(0.3)
        assert count(resumed) > first
        assert resumed.files.read("/home/user/kept.txt") == "on disk"
    finally:
        sbx.kill()


def test_filesystem_pause_keeps_files_and_ends_processes(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(timeout=120, envs={"FROM_CREATE": "kept"})
    try:
        start_counter(sbx)
        assert sbx.pause(mode="filesystem") is True
        assert Sandbox.get_info(sbx.sandbox_id).state == SandboxState.PAUSED
        resumed = Sandbox.connect(sbx.sandbox_id, timeout=120)
        assert resumed.files.read("/home/user/kept.txt") == "on disk"
        assert not alive(resumed)
        assert count(resumed) > 5  # the count the file had when paused
        assert resumed.commands.run("echo $FROM_CREATE").stdout.strip() == "kept"
    finally:
        sbx.kill()


def test_snapshot_used_as_a_template(sdk_env: dict[str, str], platform: Platform) -> None:
    gvisor = runtime_name(platform) == "runsc"
    sbx = Sandbox.create(timeout=120)
    children: list[Sandbox] = []
    try:
        start_counter(sbx)
        if not gvisor:
            with pytest.raises(SandboxException, match="cannot save a sandbox's memory"):
                sbx.create_snapshot()
        snapshot = sbx.create_snapshot("saved-state", mode=None if gvisor else "filesystem")
        assert snapshot.names == ["saved-state"]
        assert alive(sbx)  # the source keeps running
        sbx.files.write("/home/user/kept.txt", "changed after the snapshot")
        listed = Sandbox.list_snapshots(sandbox_id=sbx.sandbox_id).next_items()
        assert [s.snapshot_id for s in listed] == [snapshot.snapshot_id]
        for ref in (snapshot.snapshot_id, "saved-state"):
            child = Sandbox.create(ref, timeout=60)
            children.append(child)
            assert child.sandbox_id != sbx.sandbox_id
            assert child.files.read("/home/user/kept.txt") == "on disk"
            assert alive(child) == gvisor
        # Taking it again under the same name replaces it.
        again = sbx.create_snapshot("saved-state", mode=None if gvisor else "filesystem")
        assert again.snapshot_id != snapshot.snapshot_id
        named = Sandbox.list_snapshots(name="saved-state").next_items()
        assert [s.snapshot_id for s in named] == [again.snapshot_id]
        assert Sandbox.delete_snapshot(again.snapshot_id) is True
        assert Sandbox.delete_snapshot(again.snapshot_id) is False
        with pytest.raises(Exception, match="not found"):
            Sandbox.create(again.snapshot_id, timeout=30)
        # Sandboxes started from a deleted snapshot run on.
        assert children[0].commands.run("echo still").stdout == "still\n"
    finally:
        for child in children:
            child.kill()
        sbx.kill()


def test_fork_children_share_memory_and_files_then_diverge(
    sdk_env: dict[str, str], platform: Platform
) -> None:
    sbx = Sandbox.create(timeout=120)
    children: list[Sandbox] = []
    try:
        start_counter(sbx)
        if runtime_name(platform) != "runsc":
            with pytest.raises(SandboxException, match="cannot save a sandbox's memory"):
                sbx.fork(count=3)
            return
        at_fork = count(sbx)
        results = sbx.fork(count=3, timeout=60)
        assert all(isinstance(r, Sandbox) for r in results), results
        children = [r for r in results if isinstance(r, Sandbox)]
        assert len({c.sandbox_id for c in children} | {sbx.sandbox_id}) == 4
        for i, child in enumerate(children):
            # Memory: the parent's counter runs on in each child, from the parent's count.
            assert alive(child) and count(child) >= at_fork
            assert child.files.read("/home/user/kept.txt") == "on disk"
            child.files.write("/home/user/kept.txt", f"child {i}")
        for i, child in enumerate(children):
            assert child.files.read("/home/user/kept.txt") == f"child {i}"
        assert sbx.files.read("/home/user/kept.txt") == "on disk"
        assert alive(sbx)
        assert Sandbox.list_snapshots(sandbox_id=sbx.sandbox_id).next_items() == []
    finally:
        for child in children:
            child.kill()
        sbx.kill()


@pytest.fixture(params=("crun", "runsc"))
def restartable(
    request: pytest.FixtureRequest,
    base_rootfs: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, object]]:
    """A `corral up` of this test's own, which the test stops and starts again."""
    runtime: str = request.param
    data_dir = tmp_path_factory.mktemp("corral-restart")
    options: dict[str, object] = {
        "runtime": runtime,
        "data_dir": data_dir,
        "base_rootfs": base_rootfs,
        "instance": "corralrst",
        "pool": "10.241.0.0/16",
        "ifname_prefix": "crs",
        "pool_size": 0,
    }
    state: dict[str, object] = {"options": options, "monkeypatch": monkeypatch}
    yield state
    proc = state.get("proc")
    if proc is not None:
        stop_corral_up(proc)  # type: ignore[arg-type]
    asyncio.run(
        remove_everything(
            data_dir,
            base_rootfs,
            runtime,
            instance="corralrst",
            pool="10.241.0.0/16",
            ifname_prefix="crs",
        )
    )


def _up(state: dict[str, object]) -> None:
    proc, exports = start_corral_up(**state["options"])  # type: ignore[arg-type]
    state["proc"] = proc
    monkeypatch: pytest.MonkeyPatch = state["monkeypatch"]  # type: ignore[assignment]
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("E2B_DOMAIN", raising=False)


def test_paused_sandbox_survives_a_restart_of_the_platform(
    restartable: dict[str, object],
) -> None:
    _up(restartable)
    sbx = Sandbox.create(timeout=120)
    start_counter(sbx)
    assert sbx.pause() is True
    stop_corral_up(restartable.pop("proc"))  # type: ignore[arg-type]
    _up(restartable)
    assert Sandbox.get_info(sbx.sandbox_id).state == SandboxState.PAUSED
    resumed = Sandbox.connect(sbx.sandbox_id, timeout=60)
    first = count(resumed)
    assert alive(resumed) and first > 5
    time.sleep(0.3)
    assert count(resumed) > first
    assert resumed.files.read("/home/user/kept.txt") == "on disk"
    resumed.kill()


def test_filesystem_pause_at_timeout(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(
        timeout=4, lifecycle={"on_timeout": {"action": "pause", "mode": "filesystem"}}
    )
    try:
        assert _detail(sdk_env, sbx.sandbox_id)["pauseMode"] == "filesystem"
        start_counter(sbx)
        wait_for_state(sbx.sandbox_id, SandboxState.PAUSED)
        detail = _detail(sdk_env, sbx.sandbox_id)
        assert detail["state"] == "paused" and detail["pauseMode"] == "filesystem"
        resumed = Sandbox.connect(sbx.sandbox_id, timeout=60)
        assert resumed.files.read("/home/user/kept.txt") == "on disk"
        assert not alive(resumed)
    finally:
        sbx.kill()


def _detail(env: dict[str, str], sandbox_id: str) -> dict[str, object]:
    """The raw `GET /sandboxes/{id}`: the SDK's info has no pause mode."""
    response = httpx.get(
        f"{env['E2B_API_URL']}/sandboxes/{sandbox_id}", headers={"X-API-Key": env["E2B_API_KEY"]}
    )
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body
