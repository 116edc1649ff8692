"""The vocabulary of `corral.runtime`: what a sandbox is asked to be, and what it became.

The orchestrator speaks to isolation drivers only through `Driver`; `oci.py` implements it with
runsc or crun, and `microvm.py` will later. Everything a driver needs to recreate its view of a
sandbox after a restart lives on the host (netns, mounts, runtime state), never only in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Literal, Protocol

SandboxState = Literal["running", "paused"]
RuntimeName = Literal["runsc", "crun"]


@dataclass(frozen=True)
class Resources:
    """Limits enforced on a sandbox: cgroup CPU/memory/pids and the writable disk layer."""

    vcpu: int = 2
    memory_mb: int = 512
    disk_mb: int = 1024
    pids: int = 1024


@dataclass(frozen=True)
class SandboxSpec:
    """What the orchestrator asks a driver to start."""

    sandbox_id: str
    template_id: str
    rootfs: Path
    """The template's root filesystem: the shared, read-only lower layer."""
    resources: Resources = field(default_factory=Resources)
    internet: bool = True
    snapshot: Path | None = None
    """Start from this snapshot (`Driver.snapshot`): its upper layer seeds the sandbox's disk,
    and when it holds a memory image (`checkpoint/`) the sandbox is restored from it, processes
    and memory included, instead of booting."""
    log_from: Path | None = None
    """envd's log so far, when this sandbox continues another (a resume from a saved pause):
    its log starts as a copy of it, so the sandbox's log has no gap at the pause."""


@dataclass(frozen=True)
class SandboxNetwork:
    """A sandbox's network namespace and the veth pair that joins it to the host."""

    sandbox_id: str
    netns: str
    """Name under /run/netns (`ip netns` convention)."""
    host_ifname: str
    address: IPv4Address
    """The sandbox side of the veth: where envd and every port the code opens are reached."""
    gateway: IPv4Address
    """The host side of the veth, the sandbox's default route."""
    internet: bool

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass(frozen=True)
class RuntimeSandbox:
    """A sandbox as a driver sees it on the host."""

    sandbox_id: str
    template_id: str
    runtime: str
    network: SandboxNetwork
    resources: Resources
    state: SandboxState = "running"

    @property
    def address(self) -> IPv4Address:
        return self.network.address


@dataclass(frozen=True)
class SandboxStats:
    """Resource use read from the sandbox's cgroups and disk layer."""

    cpu_usage_ns: int
    memory_bytes: int
    memory_limit_bytes: int
    pids: int
    disk_used_bytes: int
    disk_limit_bytes: int


class Driver(Protocol):
    """An isolation technology that can run sandboxes on this host."""

    name: str
    checkpoints: bool
    """True when pause snapshots memory to disk (gVisor): the sandbox must hold no open
    connection then, so the caller has envd drop them first (`POST /snapshot/prepare`)."""

    async def create(self, spec: SandboxSpec) -> RuntimeSandbox:
        """Start the sandbox with envd as its entry process; readiness is the caller's to await.

        On any failure half-way, everything made so far is torn down before the error is raised.
        """
        ...

    async def destroy(
        self, sandbox_id: str, before_teardown: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Stop the sandbox and remove every resource it had; a no-op for an unknown id.

        A driver that `checkpoints` (gVisor) first refuses new connections, then awaits
        `before_teardown` (where the caller has envd reset the open ones): its network stack
        vanishes with it without closing anything, and a kept-alive connection would hang.
        """
        ...

    async def pause(
        self, sandbox_id: str, before_snapshot: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Freeze the sandbox with its memory kept (checkpoint or cgroup freezer).

        A driver that `checkpoints` first stops new connections to the sandbox, then awaits
        `before_snapshot` (where the caller has envd drop the open ones), then saves it.
        """
        ...

    async def resume(self, sandbox_id: str) -> RuntimeSandbox:
        """Bring a paused sandbox back where it stopped."""
        ...

    async def set_internet(self, sandbox_id: str, allowed: bool) -> None:
        """Allow or forbid egress beyond this host (NAT); other sandboxes and the host stay shut."""
        ...

    async def stats(self, sandbox_id: str) -> SandboxStats: ...

    def log_path(self, sandbox_id: str) -> Path:
        """Where envd's stdout and stderr go on the host: the sandbox's log (it may not exist)."""
        ...

    async def alive(self) -> set[str]:
        """Ids of the sandboxes whose processes still exist (running, frozen or checkpointed):
        one cheap look, for noticing sandboxes that died on their own (an OOM-killed gVisor)."""
        ...

    async def discover(self) -> list[RuntimeSandbox]:
        """The sandboxes this driver finds on the host: how a restarted orchestrator re-adopts."""
        ...

    async def cleanup_orphans(self, keep: set[str]) -> list[str]:
        """Remove every resource of sandboxes not in `keep` (half-made or unadoptable ones)."""
        ...

    def snapshot_key(self) -> str | None:
        """What a template snapshot made by this driver depends on (runtime, envd build);
        None when this driver cannot snapshot. A snapshot whose key differs is not used."""
        ...

    async def snapshot(
        self,
        sandbox_id: str,
        dest: Path,
        before_snapshot: Callable[[], Awaitable[None]] | None = None,
        *,
        memory: bool = True,
        keep: bool = False,
    ) -> None:
        """Save a running sandbox in `dest` (made here): its upper layer, envd's log so far
        (`envd.log`), and with `memory` its memory image. New sandboxes start from it
        (`SandboxSpec.snapshot`) on any network.

        The sandbox is removed afterwards unless it is to `keep` running (a fork, a named
        snapshot); then it sees a short pause. `before_snapshot` runs first: for a memory
        image, where the caller has envd drop open connections; for files only, where it
        flushes what the sandbox buffers. A driver that cannot save memory raises.
        """
        ...


class Networks(Protocol):
    """Per-sandbox network namespaces, addresses and firewall rules (`network.py`)."""

    async def setup(self) -> None: ...

    async def create(self, sandbox_id: str, *, internet: bool) -> SandboxNetwork: ...

    async def set_internet(self, sandbox_id: str, allowed: bool) -> None: ...

    async def destroy(self, sandbox_id: str) -> None: ...

    async def readdress(self, sandbox_id: str) -> None: ...

    async def set_frozen(self, sandbox_id: str, frozen: bool) -> None: ...

    async def discover(self) -> list[SandboxNetwork]: ...

    async def cleanup_orphans(self, keep: set[str]) -> list[str]: ...
