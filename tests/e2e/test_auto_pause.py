"""Pause at timeout and wake on traffic through `corral up`, with the official SDK only.

On crun a pause freezes the sandbox's cgroup; on gVisor it is a checkpoint saved to the
artifact store, restored by the wake into a new runtime sandbox. Either way the sandbox's
processes and files are there again afterwards, and a kill of a paused sandbox leaves nothing
of it on the host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from e2b import Sandbox, SandboxQuery, SandboxState

from tests.e2e.conftest import Platform

pytestmark = [pytest.mark.slow, pytest.mark.root]

INSTANCE = "corrale2e"
"""The e2e platform's instance name: its netns prefix and cgroup parent."""


def wait_for_state(sandbox_id: str, state: SandboxState, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while Sandbox.get_info(sandbox_id).state != state:
        assert time.monotonic() < deadline, f"{sandbox_id} not {state.value} within {within}s"
        time.sleep(0.1)


def runtime_id(platform: Platform, sandbox_id: str) -> str:
    record = platform.data_dir / "orchestrator" / "sandboxes" / f"{sandbox_id}.json"
    return str(json.loads(record.read_text())["runtime_id"])


def runtime_name(platform: Platform) -> str:
    argv = list(platform.proc.args)  # type: ignore[arg-type]
    return str(argv[argv.index("--runtime") + 1])


def leftovers(platform: Platform, sandbox_id: str, runtime: str) -> list[str]:
    """Whatever of the sandbox is still on the host: records, its directory (root disk,
    checkpoint), its network namespace, its cgroups."""
    candidates = [
        platform.data_dir / "orchestrator" / "sandboxes" / f"{sandbox_id}.json",
        platform.data_dir / "snapshots" / f"paused-{sandbox_id}",
        platform.data_dir / "artifacts" / "snapshots" / f"paused-{sandbox_id}",
        platform.data_dir / "artifacts" / "snapshots" / f"paused-{sandbox_id}.json",
        platform.data_dir / "sandboxes" / runtime,
        Path("/run/netns") / f"{INSTANCE}-{runtime}",
        Path("/sys/fs/cgroup") / INSTANCE / runtime,
        *Path("/sys/fs/cgroup").glob(f"*/{INSTANCE}/{runtime}"),
    ]
    return [str(path) for path in candidates if path.exists()]


def test_pause_at_timeout_wake_on_traffic_and_kill(
    sdk_env: dict[str, str], platform: Platform
) -> None:
    sbx = Sandbox.create(timeout=3, lifecycle={"on_timeout": "pause", "auto_resume": True})
    sbx.files.write("/home/user/state.txt", "kept across the pause")
    sleeper = sbx.commands.run("sleep 600", background=True)
    sleeper.disconnect()
    info = sbx.get_info()
    assert info.lifecycle == {"on_timeout": "pause", "auto_resume": True}
    runtime = runtime_id(platform, sbx.sandbox_id)

    wait_for_state(sbx.sandbox_id, SandboxState.PAUSED)
    paused = Sandbox.list(SandboxQuery(state=[SandboxState.PAUSED])).next_items()
    assert sbx.sandbox_id in {s.sandbox_id for s in paused}
    if runtime_name(platform) == "runsc":  # the checkpoint it will be restored from
        saved = platform.data_dir / "snapshots" / f"paused-{sbx.sandbox_id}"
        assert (saved / "state" / "checkpoint").is_dir()
        assert (platform.data_dir / "artifacts" / "snapshots" / saved.name).is_dir()
    assert sbx.pause() is False  # already paused

    # Traffic wakes it: the request waits for the resume, then gets its answer.
    started = time.monotonic()
    result = sbx.commands.run(f"kill -0 {sleeper.pid} && cat /home/user/state.txt")
    woke_in = time.monotonic() - started
    assert result.stdout == "kept across the pause"
    assert Sandbox.get_info(sbx.sandbox_id).state == SandboxState.RUNNING
    assert woke_in < 15

    # It got its lifetime again and pauses again at the end of it.
    wait_for_state(sbx.sandbox_id, SandboxState.PAUSED)
    assert sbx.kill() is True
    assert leftovers(platform, sbx.sandbox_id, runtime) == []
    assert Sandbox.kill(sbx.sandbox_id) is False


def test_without_auto_resume_traffic_finds_it_paused(sdk_env: dict[str, str]) -> None:
    sbx = Sandbox.create(timeout=2, lifecycle={"on_timeout": "pause"})
    try:
        wait_for_state(sbx.sandbox_id, SandboxState.PAUSED)
        assert sbx.is_running() is False
        assert Sandbox.get_info(sbx.sandbox_id).state == SandboxState.PAUSED
        sbx.connect(timeout=60)
        assert sbx.commands.run("echo back").stdout == "back\n"
    finally:
        sbx.kill()
