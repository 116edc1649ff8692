"""Pause, resume, filesystem pause, snapshot and kill racing on the same sandboxes, on the real
runtimes (crun and gVisor): every call ends as it may, the survivors are what the node says,
and nothing is left on the host once everything is killed.

The node serialises operations per sandbox, so racing calls run one after the other in some
order; what is raced is everything around that lock (the lookups before it, a kill dropping
it, a resume adopting a pause from the store) and several sandboxes saving at once. The
schedule (calls, their order and small delays) is seeded; the timing is the host's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.errors import SandboxNotFound, SnapshotNotFound, StateConflict
from corral.orchestrator.node import Node
from corral.orchestrator.wire import Sandbox
from tests.orchestrator import test_real_runtimes as real
from tests.orchestrator.host_leaks import HostScope, RuntimeIds, found, leaks
from tests.orchestrator.test_real_runtimes import RealNode, sdk

pytestmark = [pytest.mark.slow, pytest.mark.root]

node = real.node
"""The real node of `test_real_runtimes`, on each runtime."""

EXPECTED = (StateConflict, SandboxNotFound, SnapshotNotFound)
"""What a call that lost a race may answer; anything else (InternalError…) is a bug."""
SEED = 20261126
LIFETIME = 600
CALL_DELAY = 0.4
"""Calls start within this many seconds of each other: all queue on the sandbox's lock."""
LATE_KILL = (0.3, 2.5)
"""A kill into a burst already under way (a kill first leaves nothing to race)."""
ANY_KILL = (0.0, 1.5)
"""A kill before, during or after the calls it races (a resume takes about a second)."""
RACY_NODE = {"pool_size": 0, "reaper_interval": 0.1, "liveness_interval": 0.2}
"""The reaper looks for dead sandboxes all along: a saving sandbox must not look dead."""


@dataclass
class Outcomes:
    """What each call of a round answered, by call name: "ok" or the error's class name."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    """Every snapshot id asked for."""
    saved: list[str] = field(default_factory=list)
    """The ones whose call succeeded."""

    def ok(self, name: str) -> int:
        return sum(1 for call, result in self.calls if call == name and result == "ok")


async def _call(
    outcomes: Outcomes, name: str, delay: float, call: Callable[[], Awaitable[object]]
) -> None:
    await asyncio.sleep(delay)
    try:
        await call()
    except EXPECTED as exc:
        outcomes.calls.append((name, type(exc).__name__))
    except Exception as exc:
        outcomes.calls.append((name, type(exc).__name__))
        outcomes.unexpected.append(f"{name}: {type(exc).__name__}: {exc}")
    else:
        outcomes.calls.append((name, "ok"))


def _racing_calls(
    client: OrchestratorClient,
    sandbox_id: str,
    names: list[str],
    rng: random.Random,
    outcomes: Outcomes,
    kill_delay: tuple[float, float] = LATE_KILL,
) -> list[Awaitable[None]]:
    """One coroutine per name, in the order given, each after a seeded delay."""
    plain: dict[str, Callable[[], Awaitable[object]]] = {
        "pause": lambda: client.pause(sandbox_id),
        "pause_fs": lambda: client.pause(sandbox_id, memory=False),
        "resume": lambda: client.resume(sandbox_id, timeout_seconds=LIFETIME),
        "kill": lambda: client.delete(sandbox_id),
    }
    calls: list[Awaitable[None]] = []
    for i, name in enumerate(names):
        call: Callable[[], Awaitable[object]]
        if name in plain:
            call = plain[name]
        else:
            snapshot_id = f"snap-{sandbox_id}-{i}"
            outcomes.snapshots.append(snapshot_id)
            call = _snapshot(client, sandbox_id, snapshot_id, name == "snapshot", outcomes)
        delay = rng.uniform(*kill_delay) if name == "kill" else rng.uniform(0, CALL_DELAY)
        calls.append(_call(outcomes, name, delay, call))
    return calls


def _snapshot(
    client: OrchestratorClient, sandbox_id: str, snapshot_id: str, memory: bool, into: Outcomes
) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await client.snapshot(sandbox_id, snapshot_id, memory=memory)
        into.saved.append(snapshot_id)

    return call


def _artifacts(node: RealNode) -> Path:
    return node.data_dir.parent / "artifacts"


def _stored(node: RealNode, snapshot_id: str) -> bool:
    base = _artifacts(node) / "snapshots" / snapshot_id
    return base.with_suffix(".json").is_file() and (
        base.is_dir() or base.with_suffix(".tar").is_file()
    )


def _node(node: RealNode) -> Node:
    assert node.server is not None
    return node.server.node


async def _check_consistent(
    node: RealNode, client: OrchestratorClient, sandbox_id: str, outcomes: Outcomes
) -> Sandbox | None:
    """The sandbox's state as the node reports it is the state it is in, and the one the
    successful calls lead to: each pause and resume succeeded only from the other state."""
    assert not outcomes.unexpected, outcomes.calls
    pauses = outcomes.ok("pause") + outcomes.ok("pause_fs")
    resumes = outcomes.ok("resume")
    paused_id = f"paused-{sandbox_id}"
    try:
        sandbox = await client.get(sandbox_id)
    except SandboxNotFound:
        assert outcomes.ok("kill") == 1, outcomes.calls
        assert not _stored(node, paused_id), "a killed sandbox's pause is still in the store"
        with pytest.raises(SandboxNotFound):
            await client.resume(sandbox_id, timeout_seconds=LIFETIME)
        return None
    assert outcomes.ok("kill") == 0, outcomes.calls
    record = _node(node).registry.get(sandbox_id)
    assert record is not None
    runtime = _node(node).driver.runtime  # type: ignore[attr-defined]
    if sandbox.state == "running":
        assert pauses == resumes, outcomes.calls
        assert await runtime.state(record.runtime_id) == "running"
        assert not _stored(node, paused_id)
        result = await sdk(sandbox).commands.run(f"echo alive {sandbox_id}")
        assert result.stdout.strip() == f"alive {sandbox_id}"
        return sandbox
    assert sandbox.state == "paused" and pauses == resumes + 1, outcomes.calls
    if record.snapshot_id:
        # Saved: in the store, and no runtime sandbox left behind.
        assert record.snapshot_id == paused_id and _stored(node, paused_id)
        assert await runtime.state(record.runtime_id) is None
        assert not (node.data_dir / "sandboxes" / record.runtime_id).exists()
    else:
        # Frozen in place (crun's full pause).
        assert node.runtime == "crun" and sandbox.paused_memory
        assert await runtime.state(record.runtime_id) == "paused"
        assert not _stored(node, paused_id)
    return sandbox


async def _kill_all(client: OrchestratorClient, snapshots: list[str]) -> None:
    for sandbox in await client.list():
        await client.delete(sandbox.sandbox_id)
    for snapshot_id in snapshots:
        await client.delete_snapshot(snapshot_id)  # a no-op for one never made


async def _no_leaks(node: RealNode, client: OrchestratorClient, ids: RuntimeIds) -> None:
    scope = HostScope.of_test_driver(node.data_dir, node.runtime, _artifacts(node))
    assert await client.list() == []
    assert ids.seen, "no runtime sandbox was seen: the watch is broken"
    # A kill forgets the sandbox before its teardown ends; the teardown finishes right after.
    for _ in range(100):
        ids.poll()
        report = found(leaks(scope, ids.seen))
        if not report:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"left on the host by {len(ids.seen)} runtime sandboxes: {report}")


async def test_concurrent_calls_on_one_sandbox(node: RealNode) -> None:
    """Each round: a few sandboxes, each given a shuffled burst of every kind of call (a kill
    in half of them), all fired at once; then each sandbox is checked against reality, and
    the survivors run on into the next rounds."""
    client = await node.start(**RACY_NODE, artifacts=str(_artifacts(node)))
    rng = random.Random(f"{SEED}-{node.runtime}-calls")
    kinds = ["pause", "pause", "pause_fs", "resume", "resume", "resume", "snapshot", "snapshot_fs"]
    snapshots: list[str] = []
    with RuntimeIds(node.data_dir / "sandboxes") as ids:
        for round_ in range(3):
            sandbox_ids = [f"sbxrace{round_}{i}" for i in range(3)]
            await asyncio.gather(
                *(client.create(s, "base", timeout_seconds=LIFETIME) for s in sandbox_ids)
            )
            bursts: dict[str, Outcomes] = {s: Outcomes() for s in sandbox_ids}
            calls: list[Awaitable[None]] = []
            for i, sandbox_id in enumerate(sandbox_ids):
                names = kinds + (["kill"] if (round_ + i) % 2 else [])
                rng.shuffle(names)
                calls += _racing_calls(client, sandbox_id, names, rng, bursts[sandbox_id])
            await asyncio.gather(*calls)
            for sandbox_id, outcomes in bursts.items():
                snapshots += outcomes.snapshots
                sandbox = await _check_consistent(node, client, sandbox_id, outcomes)
                # A snapshot is in the store when its call succeeded, and nowhere if not.
                for snapshot_id in outcomes.snapshots:
                    assert _stored(node, snapshot_id) == (snapshot_id in outcomes.saved)
                    cache = node.data_dir / "snapshots" / snapshot_id
                    assert cache.exists() == (snapshot_id in outcomes.saved)
                if sandbox is not None and sandbox.state == "paused":
                    resumed = await client.resume(sandbox_id, timeout_seconds=LIFETIME)
                    assert (await sdk(resumed).commands.run("echo back")).stdout == "back\n"
        await _probe_sees(node, client, ids)
        await _kill_all(client, snapshots)
        await _no_leaks(node, client, ids)


async def _probe_sees(node: RealNode, client: OrchestratorClient, ids: RuntimeIds) -> None:
    """The leak probe finds every kind of resource of the sandboxes still running: a clean
    report after the kills means they are gone, not that the probe looks elsewhere."""
    scope = HostScope.of_test_driver(node.data_dir, node.runtime, _artifacts(node))
    running = [s for s in await client.list() if s.state == "running"]
    assert running, "no sandbox survived the rounds to check the probe on"
    report = leaks(scope, ids.seen)
    for sandbox in running:
        record = _node(node).registry.get(sandbox.sandbox_id)
        assert record is not None
        for kind in (
            "processes",
            "mounts",
            "netns",
            "cgroups",
            "runtime_state",
            "network_records",
            "sandbox_dirs",
        ):
            assert any(record.runtime_id in item for item in report[kind]), (
                kind,
                record.runtime_id,
                report[kind],
            )


async def test_kill_racing_resume_and_pause(node: RealNode) -> None:
    """A kill fired with a resume and a pause, on sandboxes running, fully paused and paused to
    their files: the kill always wins in the end, and nothing of the sandbox survives it (no
    pause left in the store for another resume to adopt)."""
    client = await node.start(**RACY_NODE, artifacts=str(_artifacts(node)))
    rng = random.Random(f"{SEED}-{node.runtime}-kill")
    starts = ["running", "paused", "paused_fs"]
    with RuntimeIds(node.data_dir / "sandboxes") as ids:
        for round_ in range(2):
            sandbox_ids = [f"sbxkill{round_}{i}" for i in range(len(starts))]
            await asyncio.gather(
                *(client.create(s, "base", timeout_seconds=LIFETIME) for s in sandbox_ids)
            )
            await asyncio.gather(
                *(
                    client.pause(s, memory=start == "paused")
                    for s, start in zip(sandbox_ids, starts, strict=True)
                    if start != "running"
                )
            )
            bursts = {s: Outcomes() for s in sandbox_ids}
            calls: list[Awaitable[None]] = []
            for sandbox_id in sandbox_ids:
                names = ["kill", "resume", rng.choice(["pause", "pause_fs"])]
                names += ["kill"] * rng.randint(0, 1)  # a second kill races the first
                rng.shuffle(names)
                outcomes = bursts[sandbox_id]
                calls += _racing_calls(client, sandbox_id, names, rng, outcomes, ANY_KILL)
            await asyncio.gather(*calls)
            for sandbox_id, outcomes in bursts.items():
                assert outcomes.ok("kill") == 1, outcomes.calls
                assert await _check_consistent(node, client, sandbox_id, outcomes) is None
        await _kill_all(client, [])
        await _no_leaks(node, client, ids)
