"""The orchestrator on the real OCI driver (crun and gVisor): what the control plane will see.

The gRPC server runs in-process on loopback with the real driver (test-named network, firewall
table, runtime state and cgroups); what runs inside the sandboxes is driven with the official
e2b SDK, as a user's code will be once the control plane and proxy route to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2b import AuthenticationException

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.errors import SandboxNotFound
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from corral.orchestrator.wire import Sandbox
from corral.runtime.host import run
from tests.orchestrator.conftest import eventually
from tests.runtime.drivers import RUNTIMES, make_driver, require_runtime
from tests.sdk import async_sdk_sandbox

pytestmark = [pytest.mark.slow, pytest.mark.root]

SECRET = "real-runtime-secret-0123"


class RealNode:
    def __init__(self, runtime: str, data_dir: Path, rootfs: Path, envd_dist: Path) -> None:
        self.runtime, self.data_dir, self.rootfs, self.envd_dist = (
            runtime,
            data_dir,
            rootfs,
            envd_dist,
        )
        self.server: OrchestratorServer | None = None
        self.client: OrchestratorClient | None = None

    async def start(self, **overrides: object) -> OrchestratorClient:
        settings = OrchestratorSettings(
            **{
                "host": "127.0.0.1",
                "port": 0,
                "secret": SECRET,
                "data_dir": self.data_dir,
                "runtime": self.runtime,
                "pool_size": 1,
                "reaper_interval": 0.2,
                "shutdown_grace": 2.0,
                **overrides,
            }  # type: ignore[arg-type]
        )
        driver = make_driver(self.runtime, self.data_dir, self.envd_dist, tag=self.runtime)
        await driver.networks.setup()
        self.server = OrchestratorServer(settings, driver, StaticTemplates({"base": self.rootfs}))
        port = await self.server.start()
        self.client = OrchestratorClient(f"127.0.0.1:{port}", SECRET)
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.server is not None:
            await self.server.stop()
        self.client = self.server = None


@pytest.fixture(params=RUNTIMES)
async def node(
    request: pytest.FixtureRequest, base_rootfs: Path, envd_dist: Path, tmp_path: Path
) -> AsyncIterator[RealNode]:
    require_runtime(request.param)
    real = RealNode(request.param, tmp_path / "data", base_rootfs, envd_dist)
    yield real
    if real.client is not None:
        for sandbox in await real.client.list():
            await real.client.delete(sandbox.sandbox_id)
    await real.stop()


def sdk(sandbox: Sandbox):  # type: ignore[no-untyped-def]
    return async_sdk_sandbox(
        f"http://{sandbox.address}:{sandbox.envd_port}",
        sandbox.envd_access_token,
        sandbox.sandbox_id,
    )


async def test_create_from_pool_with_env_and_token(node: RealNode) -> None:
    client = await node.start()
    await eventually(lambda: _pool_ready(client), within=60)
    sandbox = await client.create(
        "sbxpooled0000000001",
        "base",
        env_vars={"GREETING": "from-init"},
        envd_access_token="tok-0123456789",
        metadata={"owner": "test"},
    )
    assert sandbox.state == "running" and sandbox.metadata == {"owner": "test"}
    result = await sdk(sandbox).commands.run("echo $GREETING; whoami")
    assert result.stdout.split() == ["from-init", "user"]
    # envd's log reaches the host through the runtime: its events and the command's output.
    logged = [e.message for e in await client.logs(sandbox.sandbox_id)]
    assert {"process started", "from-init", "user", "process ended"} <= set(logged)
    wrong = async_sdk_sandbox(f"http://{sandbox.address}:49983", "not-the-token")
    with pytest.raises(AuthenticationException):
        await wrong.commands.run("true")
    # The pool refills in the background.
    await eventually(lambda: _pool_ready(client), within=60)


async def test_timeout_expiry_kills_and_cleans(node: RealNode) -> None:
    client = await node.start(pool_size=0)
    sandbox = await client.create("sbxexpiring00000001", "base", timeout_seconds=2)
    assert (await sdk(sandbox).commands.run("echo up")).stdout.strip() == "up"
    await eventually(lambda: _gone(client, sandbox.sandbox_id), within=30)
    # Forgotten first, then torn down: the teardown finishes right after.
    sandboxes_dir = node.data_dir / "sandboxes"
    await eventually(lambda: not any(sandboxes_dir.iterdir()), within=10)


async def test_pause_resume_keeps_memory(node: RealNode) -> None:
    client = await node.start(pool_size=0)
    sandbox = await client.create("sbxpausing000000001", "base", timeout_seconds=300)
    counter = (
        "python3 -c \"import os,time\ni=0\nwhile True:\n i+=1; open('/tmp/m','w').write(str(i));"
        " os.replace('/tmp/m','/tmp/n');"
        ' time.sleep(0.05)"'
    )
    await sdk(sandbox).commands.run(counter, background=True)
    await asyncio.sleep(0.5)
    paused = await client.pause(sandbox.sandbox_id)
    assert paused.state == "paused"
    resumed = await client.resume(sandbox.sandbox_id, timeout_seconds=300)
    assert resumed.state == "running"
    first = int((await sdk(resumed).commands.run("cat /tmp/n")).stdout)
    await asyncio.sleep(0.3)
    assert int((await sdk(resumed).commands.run("cat /tmp/n")).stdout) > first


async def test_a_sandbox_that_dies_is_noticed_and_cleaned(node: RealNode) -> None:
    client = await node.start(pool_size=0, liveness_interval=0.5)
    sandbox = await client.create("sbxdoomed0000000001", "base")
    assert node.server is not None
    node_ = node.server.node
    runtime_id = node_.registry.get(sandbox.sandbox_id).runtime_id  # type: ignore[union-attr]
    # As if the host's OOM killer ended it: the runtime's own kill, behind the node's back.
    runtime = node_.driver.runtime  # type: ignore[attr-defined]
    await run(*runtime.argv("kill", runtime_id, "KILL"))
    await eventually(lambda: _gone(client, sandbox.sandbox_id), within=30)
    await eventually(lambda: not any((node.data_dir / "sandboxes").iterdir()), within=10)


async def test_restarted_orchestrator_readopts(node: RealNode) -> None:
    client = await node.start(pool_size=1)
    sandbox = await client.create("sbxsurvivor00000001", "base", metadata={"k": "v"})
    await sdk(sandbox).commands.run("echo kept > /home/user/f")
    await node.stop()
    client = await node.start(pool_size=0)
    again = await client.get(sandbox.sandbox_id)
    assert again.metadata == {"k": "v"} and again.address == sandbox.address
    assert (await sdk(again).commands.run("cat /home/user/f")).stdout.strip() == "kept"
    # Only the assigned sandbox survived; the old pool's sandbox was removed.
    assert [p.name for p in (node.data_dir / "sandboxes").iterdir()] == [_runtime_dir(node)]


def _runtime_dir(node: RealNode) -> str:
    [entry] = list((node.data_dir / "sandboxes").iterdir())
    return entry.name


async def _pool_ready(client: OrchestratorClient) -> bool:
    pools = (await client.info()).pools
    return bool(pools) and pools[0].ready >= 1


async def _gone(client: OrchestratorClient, sandbox_id: str) -> bool:
    try:
        await client.get(sandbox_id)
    except SandboxNotFound:
        return True
    return False
