"""Real OCI drivers for tests: the host's runsc/crun, a test-only network range and firewall table.

Everything a test driver makes is named apart from a real orchestrator's (netns prefix,
interface prefix, nft table, address pool, data dir), so tests never touch a running platform.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest

from corral.runtime.envd_dist import envd_command
from corral.runtime.network import SandboxNetworks
from corral.runtime.oci import OciDriver
from corral.runtime.types import Resources, RuntimeSandbox, SandboxSpec

TEST_POOL = "10.252.0.0/16"
RUNTIMES = ("crun", "runsc")


def require_runtime(runtime: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("sandboxes need root (namespaces, mounts, cgroups)")
    missing = [t for t in (runtime, "nft", "ip", "mkfs.ext4") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/setup-host.sh installs them)")


def test_networks(tag: str) -> SandboxNetworks:
    return SandboxNetworks(
        pool=TEST_POOL,
        state_dir=Path(f"/run/corral-test-{tag}/network"),
        ifname_prefix="crt",
        netns_prefix="corraltest-",
        table="corral_oci_test",
    )


def make_driver(runtime: str, data_dir: Path, envd_dist: Path, tag: str) -> OciDriver:
    return OciDriver(
        runtime=runtime,
        data_dir=data_dir,
        networks=test_networks(tag),
        envd_dir=envd_dist,
        envd_argv=envd_command(),
        instance="corral-test",
    )


def new_id() -> str:
    return "t" + uuid.uuid4().hex[:15]


async def wait_envd(sandbox: RuntimeSandbox, timeout: float = 20.0) -> float:
    """Seconds until envd in the sandbox answers /health from the host."""
    started = time.perf_counter()
    url = f"http://{sandbox.address}:49983/health"
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.perf_counter() - started < timeout:
            try:
                if (await client.get(url)).status_code == 204:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.005)
    raise TimeoutError(f"envd of {sandbox.sandbox_id} did not answer within {timeout}s")


async def start(
    driver: OciDriver, rootfs: Path, resources: Resources | None = None, internet: bool = False
) -> RuntimeSandbox:
    spec = SandboxSpec(
        sandbox_id=new_id(),
        template_id="base",
        rootfs=rootfs,
        resources=resources or Resources(vcpu=1, memory_mb=256, disk_mb=256, pids=128),
        internet=internet,
    )
    sandbox = await driver.create(spec)
    try:
        await wait_envd(sandbox)
    except BaseException:
        await driver.destroy(sandbox.sandbox_id)
        raise
    return sandbox


def envd_url(sandbox: RuntimeSandbox) -> str:
    return f"http://{sandbox.address}:49983"
