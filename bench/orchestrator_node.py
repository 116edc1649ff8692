"""A real orchestrator node for benchmarks: the OCI driver, timed, behind the in-process server.

Everything it makes is named apart from a real orchestrator's *and from the tests'* (netns
prefix, interface prefix, nft table, address pool, cgroup parent, runtime state, data dir):
a node's start removes every sandbox of its names that it does not know, so sharing the tests'
names would tear down the sandboxes of a test run going on at the same time, and theirs ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.node import Node
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from corral.runtime import oci
from corral.runtime.envd_dist import envd_command
from corral.runtime.network import SandboxNetworks
from corral.runtime.oci import OciDriver
from corral.runtime.rootdisk import RootDisk
from corral.runtime.types import RuntimeName, RuntimeSandbox, SandboxSpec

DATA_DIR = Path("/var/tmp/corral-bench")
RUN_DIR = Path("/run/corral-bench")
INSTANCE = "corral-bench"
NETNS_PREFIX = "corralbench-"
IFNAME_PREFIX = "crb"
SECRET = "orchestrator-bench-secret-0123"


def bench_networks() -> SandboxNetworks:
    return SandboxNetworks(
        pool="10.251.0.0/16",
        state_dir=RUN_DIR / "network",
        ifname_prefix=IFNAME_PREFIX,
        netns_prefix=NETNS_PREFIX,
        table="corral_oci_bench",
    )


class Timings:
    """Milliseconds per named step, appended as each call of a wrapped coroutine ends."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = defaultdict(list)

    def add(self, key: str, started: float) -> None:
        self.values[key].append((time.perf_counter() - started) * 1000)

    def wrap(self, obj: object, name: str, key: str) -> None:
        """Time `obj.name` (a coroutine method) from now on, on this instance only."""
        original: Callable[..., Awaitable[Any]] = getattr(obj, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.add(key, started)

        setattr(obj, name, timed)

    def mark(self) -> dict[str, int]:
        return {key: len(values) for key, values in self.values.items()}

    def since(self, mark: dict[str, int]) -> dict[str, list[float]]:
        return {key: values[mark.get(key, 0) :] for key, values in self.values.items()}


_disk_timings: Timings | None = None


class _TimedRootDisk(RootDisk):
    async def create(self, lower: Path, size_mb: int) -> None:
        started = time.perf_counter()
        try:
            await super().create(lower, size_mb)
        finally:
            if _disk_timings is not None:
                _disk_timings.add("disk_create", started)

    async def destroy(self) -> None:
        started = time.perf_counter()
        try:
            await super().destroy()
        finally:
            if _disk_timings is not None:
                _disk_timings.add("disk_destroy", started)


@contextlib.contextmanager
def timed_root_disks(timings: Timings) -> Iterator[None]:
    """Time `RootDisk.create` (sparse image, mkfs, loop mount, overlay mount) in the OCI driver:
    it runs alongside the network inside `create`, where no instance can be wrapped."""
    global _disk_timings
    _disk_timings = timings
    setattr(oci, "RootDisk", _TimedRootDisk)  # noqa: B010
    try:
        yield
    finally:
        setattr(oci, "RootDisk", RootDisk)  # noqa: B010
        _disk_timings = None


class TimedDriver(OciDriver):
    """The OCI driver with its create steps timed: network, disk, runtime start, the whole."""

    def __init__(self, runtime: str, envd_dir: Path) -> None:
        super().__init__(
            runtime=runtime,
            data_dir=DATA_DIR / runtime,
            networks=bench_networks(),
            envd_dir=envd_dir,
            envd_argv=envd_command(),
            instance=INSTANCE,
        )
        self.timings = Timings()
        self.created_at: dict[str, float] = {}
        """Runtime id → `perf_counter()` when its create returned (pool hit or cold start?)."""
        self.timings.wrap(self.runtime, "start", "runtime_start")
        self.timings.wrap(self.networks, "create", "network_create")
        self.timings.wrap(self.runtime, "delete", "runtime_delete")
        self.timings.wrap(self.networks, "destroy", "network_destroy")
        self.timings.wrap(self, "alive", "alive_list")  # the reaper's liveness look

    async def create(self, spec: SandboxSpec) -> RuntimeSandbox:
        started = time.perf_counter()
        try:
            return await super().create(spec)
        finally:
            self.timings.add("driver_create", started)
            self.created_at[spec.sandbox_id] = time.perf_counter()

    async def destroy(self, sandbox_id: str) -> None:
        started = time.perf_counter()
        try:
            await super().destroy(sandbox_id)
        finally:
            self.timings.add("driver_destroy", started)


class BenchNode:
    """`OrchestratorServer` on loopback with the timed driver, and a gRPC client to it."""

    def __init__(self, driver: TimedDriver, rootfs: Path) -> None:
        self.driver = driver
        self.rootfs = rootfs
        self.server: OrchestratorServer | None = None
        self._client: OrchestratorClient | None = None

    async def start(self, pool_size: int) -> None:
        settings = OrchestratorSettings(
            host="127.0.0.1",
            port=0,
            secret=SecretStr(SECRET),
            data_dir=DATA_DIR / self.driver.name,
            runtime=cast(RuntimeName, self.driver.name),
            pool_size=pool_size,
            reaper_interval=1.0,
            shutdown_grace=5.0,
        )
        server = OrchestratorServer(settings, self.driver, StaticTemplates({"base": self.rootfs}))
        self.driver.timings.wrap(server.node.envd, "wait_healthy", "envd_wait")
        self.driver.timings.wrap(server.node.envd, "init", "envd_init")
        self.driver.timings.wrap(server.node.registry, "put", "registry_put")
        self.server = server
        port = await server.start()
        self._client = OrchestratorClient(f"127.0.0.1:{port}", SECRET)

    @property
    def node(self) -> Node:
        assert self.server is not None
        return self.server.node

    @property
    def client(self) -> OrchestratorClient:
        assert self._client is not None
        return self._client

    async def wait_pool_full(self, timeout: float = 120.0) -> float:
        """Seconds until every pool is full with no refill running."""
        started = time.monotonic()
        while True:
            pools = self.node.pool.status()
            if pools and all(p.ready >= p.target and p.starting == 0 for p in pools):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"pool not full after {timeout}s: {pools}")
            await asyncio.sleep(0.01)

    async def delete_all(self, concurrency: int = 4) -> tuple[int, float]:
        """Delete every assigned sandbox through gRPC, `concurrency` at once: (count, seconds)."""
        ids = [record.sandbox_id for record in self.node.list()]
        slots = asyncio.Semaphore(concurrency)

        async def delete(sandbox_id: str) -> None:
            async with slots:
                await self.client.delete(sandbox_id)

        started = time.perf_counter()
        await asyncio.gather(*(delete(i) for i in ids))
        return len(ids), time.perf_counter() - started

    async def stop(self) -> None:
        """Delete what is left, then stop (the server destroys its pool sandboxes)."""
        try:
            if self.server is not None and self._client is not None:
                await self.delete_all()
        finally:
            if self._client is not None:
                await self._client.close()
            if self.server is not None:
                await self.server.stop()
            self.server = self._client = None
