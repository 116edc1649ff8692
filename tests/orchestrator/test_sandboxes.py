"""The sandbox lifecycle through the real gRPC server and client, with real envd processes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import grpc.aio
import httpx
import pytest
from e2b import AsyncSandbox, ConnectionConfig
from google.protobuf.empty_pb2 import Empty
from packaging.version import Version

from corral.envd import ENVD_PORT, ENVD_VERSION
from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.errors import (
    InternalError,
    InvalidRequest,
    NodeUnavailable,
    SandboxExists,
    SandboxNotFound,
    SandboxNotReady,
    StateConflict,
    TemplateNotFound,
    Unauthenticated,
)
from corral.orchestrator.gen import orchestrator_pb2 as pb
from corral.orchestrator.models import utcnow
from corral.orchestrator.wire import Sandbox
from corral.runtime.errors import CommandFailed
from corral.runtime.types import SandboxSpec
from tests.orchestrator.conftest import SECRET, Harness, eventually


def sdk_sandbox(sandbox: Sandbox) -> AsyncSandbox:
    """The SDK object `AsyncSandbox.create()` would build for this sandbox (see tests/envd)."""
    token = sandbox.envd_access_token
    headers = {"E2b-Sandbox-Id": sandbox.sandbox_id, "E2b-Sandbox-Port": str(ENVD_PORT)}
    if token:
        headers["X-Access-Token"] = token
    return AsyncSandbox(
        sandbox_id=sandbox.sandbox_id,
        sandbox_domain=None,
        envd_version=Version(sandbox.envd_version),
        envd_access_token=token,
        traffic_access_token=None,
        connection_config=ConnectionConfig(
            api_key="unused",
            sandbox_url=f"http://{sandbox.address}:{sandbox.envd_port}",
            extra_sandbox_headers=headers,
        ),
    )


async def test_create_runs_envd_configured_by_init(harness: Harness) -> None:
    client = await harness.start()
    sandbox = await client.create(
        "sbx-one",
        "base",
        team_id="team-a",
        env_vars={"GREETING": "hello from init"},
        metadata={"owner": "tests"},
        envd_access_token="tok-123",
        timeout_seconds=120,
    )
    assert sandbox.state == "running"
    assert sandbox.sandbox_id == "sbx-one"
    assert sandbox.template_id == "base"
    assert sandbox.metadata == {"owner": "tests"}
    assert sandbox.envd_version == ENVD_VERSION
    assert sandbox.envd_port == ENVD_PORT
    assert (sandbox.vcpu, sandbox.memory_mb, sandbox.disk_mb) == (2, 512, 1024)
    assert timedelta(seconds=110) < sandbox.end_time - utcnow() <= timedelta(seconds=120)
    assert sandbox.allow_internet_access
    # A cold start gets its network policy at creation: no set_internet call is needed.
    assert harness.driver.internet_calls == []
    [call] = harness.driver.creates
    assert call.spec.internet is True

    async with httpx.AsyncClient(base_url=f"http://{sandbox.address}:{ENVD_PORT}") as http:
        assert (await http.get("/health")).status_code == 204
        assert (await http.get("/envs")).status_code == 401  # the token from /init holds
        envs = await http.get("/envs", headers={"X-Access-Token": "tok-123"})
        assert envs.json()["GREETING"] == "hello from init"

    sdk = sdk_sandbox(sandbox)
    result = await sdk.commands.run("echo $GREETING; whoami")
    assert result.stdout == f"hello from init\n{harness.settings().sandbox_user}\n"


async def test_create_validates_and_rejects_duplicates(harness: Harness) -> None:
    client = await harness.start()
    await client.create("sbx-dup", "base")
    with pytest.raises(SandboxExists):
        await client.create("sbx-dup", "base")
    with pytest.raises(InvalidRequest):
        await client.create("../etc", "base")
    with pytest.raises(InvalidRequest):
        await client.create("sbx-x", "base", env_vars={"A=B": "c"})
    with pytest.raises(InvalidRequest):
        await client.create("sbx-x", "base", timeout_seconds=0)
    with pytest.raises(TemplateNotFound):
        await client.create("sbx-x", "no-such-template")
    assert len(harness.driver.creates) == 1


async def test_secret_is_required(harness: Harness) -> None:
    await harness.start()
    for secret in (None, "wrong-secret-0123456789"):
        async with OrchestratorClient(harness.target, secret) as intruder:
            with pytest.raises(Unauthenticated):
                await intruder.list()
            with pytest.raises(Unauthenticated):
                await intruder.create("sbx-evil", "base")
    # A raw call with a lowercase-but-wrong scheme is refused too (no partial matches).
    async with grpc.aio.insecure_channel(harness.target) as channel:
        info = channel.unary_unary(
            "/corral.orchestrator.v1.NodeService/Info",
            Empty.SerializeToString,
            pb.NodeInfo.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await info(Empty(), metadata=(("authorization", "bearer test-secret-0123456789"),))
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert harness.driver.creates == []


async def test_get_list_delete(harness: Harness) -> None:
    client = await harness.start()
    a = await client.create("sbx-a", "base", team_id="t1", metadata={"k": "a"})
    await client.create("sbx-b", "base", team_id="t2")
    assert (await client.get("sbx-a")) == a
    assert {s.sandbox_id for s in await client.list()} == {"sbx-a", "sbx-b"}
    assert [s.sandbox_id for s in await client.list(team_id="t2")] == ["sbx-b"]
    assert await client.list(state="paused") == []

    runtime_id = harness.driver.runtime_id_at(a.address)
    await client.delete("sbx-a")
    assert runtime_id in harness.driver.destroyed
    assert [s.sandbox_id for s in await client.list()] == ["sbx-b"]
    assert not (harness.data_dir / "orchestrator" / "sandboxes" / "sbx-a.json").exists()

    for call in (client.get, client.delete, client.pause, client.resume):
        with pytest.raises(SandboxNotFound):
            await call("sbx-a")
    with pytest.raises(SandboxNotFound):
        await client.set_timeout("sbx-unknown", timeout_seconds=10)


async def test_set_timeout_and_expiry_by_the_reaper(harness: Harness) -> None:
    client = await harness.start()
    sandbox = await client.create("sbx-short", "base", timeout_seconds=3600)
    runtime_id = harness.driver.runtime_id_at(sandbox.address)

    extended = await client.set_timeout("sbx-short", timeout_seconds=7200)
    assert extended.end_time - sandbox.end_time > timedelta(seconds=3500)
    assert (await client.get("sbx-short")).end_time == extended.end_time

    await client.set_timeout("sbx-short", timeout_seconds=1)
    assert (await client.get("sbx-short")).state == "running"
    await eventually(lambda: harness.server.node.registry.get("sbx-short") is None, within=5)
    # Forgotten first, torn down after: the teardown may still be under way.
    await eventually(lambda: runtime_id in harness.driver.destroyed, within=5)
    with pytest.raises(SandboxNotFound):
        await client.get("sbx-short")


async def test_pause_and_resume(harness: Harness) -> None:
    client = await harness.start()
    sandbox = await client.create("sbx-p", "base", envd_access_token="tok", timeout_seconds=60)
    paused = await client.pause("sbx-p")
    assert paused.state == "paused"
    assert [s.sandbox_id for s in await client.list(state="paused")] == ["sbx-p"]
    with pytest.raises(StateConflict):
        await client.pause("sbx-p")
    with pytest.raises(StateConflict):
        await client.set_timeout("sbx-p", timeout_seconds=10)

    resumed = await client.resume("sbx-p", timeout_seconds=600)
    assert resumed.state == "running"
    assert resumed.end_time - utcnow() > timedelta(seconds=590)
    with pytest.raises(StateConflict):
        await client.resume("sbx-p")
    result = await sdk_sandbox(sandbox).commands.run("echo back")
    assert result.stdout == "back\n"


async def test_a_sandbox_that_dies_on_its_own_is_buried(harness: Harness) -> None:
    client = await harness.start(liveness_interval=0.2)
    doomed = await client.create("sbx-doomed", "base")
    survivor = await client.create("sbx-survivor", "base")
    runtime_id = harness.driver.runtime_id_at(doomed.address)
    harness.driver.sandboxes[runtime_id].proc.kill()

    async def buried() -> bool:
        return [s.sandbox_id for s in await client.list()] == [survivor.sandbox_id]

    await eventually(buried)
    assert runtime_id in harness.driver.destroyed


async def test_driver_failure_during_create_leaves_nothing(harness: Harness) -> None:
    client = await harness.start()
    harness.driver.fail_create = CommandFailed(["runsc", "create"], 1, "boom")
    with pytest.raises(InternalError, match="boom"):
        await client.create("sbx-fail", "base")
    harness.driver.fail_create = None
    assert await client.list() == []
    assert list((harness.data_dir / "orchestrator" / "sandboxes").iterdir()) == []
    # The id is free again.
    assert (await client.create("sbx-fail", "base")).state == "running"


async def test_envd_never_ready_is_torn_down(harness: Harness) -> None:
    client = await harness.start(readiness_timeout=0.5)
    harness.driver.broken_envd = True
    with pytest.raises(SandboxNotReady):
        await client.create("sbx-mute", "base")
    [call] = harness.driver.creates
    assert harness.driver.destroyed == [call.spec.sandbox_id]
    assert harness.driver.sandboxes == {}
    assert await client.list() == []


async def test_info_reports_capacity_and_load(harness: Harness) -> None:
    client = await harness.start()
    info = await client.info()
    assert info.runtime == "fake"
    assert info.envd_version == ENVD_VERSION
    assert info.cpus >= 1 and info.memory_mb > 0
    assert (info.running, info.paused, info.sandboxes) == (0, 0, 0)

    await client.create("sbx-i1", "base", vcpu=1, memory_mb=256)
    await client.create("sbx-i2", "base")
    await client.pause("sbx-i2")
    info = await client.info()
    assert (info.running, info.paused, info.sandboxes) == (1, 1, 2)
    assert info.allocated_vcpu == 3
    assert info.allocated_memory_mb == 256 + 512


async def test_concurrent_creates(harness: Harness) -> None:
    client = await harness.start()
    ids = [f"sbx-c{i}" for i in range(4)]
    created = await asyncio.gather(*(client.create(i, "base") for i in ids))
    assert sorted(s.sandbox_id for s in created) == ids
    assert len({s.address for s in created}) == 4


async def test_same_id_created_twice_at_once(harness: Harness) -> None:
    client = await harness.start()
    results = await asyncio.gather(
        client.create("sbx-twin", "base"), client.create("sbx-twin", "base"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Sandbox", "SandboxExists"]
    assert len(harness.driver.sandboxes) == 1


async def test_a_create_the_client_gave_up_on_leaves_nothing(harness: Harness) -> None:
    async def slow(spec: SandboxSpec) -> None:
        await asyncio.sleep(1.0)

    harness.driver.gate = slow
    await harness.start()
    async with OrchestratorClient(harness.target, SECRET, create_timeout=0.3) as impatient:
        with pytest.raises(NodeUnavailable):
            await impatient.create("sbx-late", "base")
    # The driver's create finishes after the caller left: what it made is destroyed.
    await eventually(lambda: len(harness.driver.destroyed) == 1, within=10)
    assert harness.driver.sandboxes == {}
    assert harness.client is not None
    assert await harness.client.list() == []
