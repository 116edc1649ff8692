"""A `Driver` whose sandboxes are real envd processes on their own loopback addresses.

Each sandbox is `python -m corral.envd --host 127.X.Y.Z --port 49983`: the orchestrator's
readiness wait, `/init` and the SDK all talk to a real envd, only the isolation is missing.
Pause and resume are SIGSTOP and SIGCONT. The driver's state (its processes) outlives an
orchestrator, which is how the restart tests re-adopt sandboxes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address
from pathlib import Path

from corral.envd import ENVD_PORT
from corral.runtime.errors import DriverError, SandboxNotFound, SandboxStateError
from corral.runtime.types import RuntimeSandbox, SandboxNetwork, SandboxSpec, SandboxStats


@dataclass
class CreateCall:
    spec: SandboxSpec
    at: float
    """time.monotonic() when `create` was called."""


@dataclass
class FakeSandbox:
    runtime: RuntimeSandbox
    proc: asyncio.subprocess.Process
    internet: bool


@dataclass
class FakeDriver:
    user: str
    log_dir: Path
    name: str = "fake"
    checkpoints: bool = False
    broken_envd: bool = False
    """Start a process that never answers /health (readiness timeout tests)."""
    fail_create: DriverError | None = None
    gate: Callable[[SandboxSpec], Awaitable[None]] | None = None
    """Awaited at the start of every create: lets a test hold some creates back."""
    sandboxes: dict[str, FakeSandbox] = field(default_factory=dict)
    creates: list[CreateCall] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    internet_calls: list[tuple[str, bool]] = field(default_factory=list)
    cleanup_calls: list[set[str]] = field(default_factory=list)
    _next: int = 0

    def _address(self) -> IPv4Address:
        # A block of 127/8 per test process, so parallel runs never share an address.
        base = int(IPv4Address(f"127.{100 + os.getpid() % 100}.0.0"))
        self._next += 1
        return IPv4Address(base + self._next + 1)

    def runtime_id_at(self, address: str) -> str:
        return next(sid for sid, s in self.sandboxes.items() if str(s.runtime.address) == address)

    async def create(self, spec: SandboxSpec) -> RuntimeSandbox:
        self.creates.append(CreateCall(spec, time.monotonic()))
        if self.gate is not None:
            await self.gate(spec)
        if self.fail_create is not None:
            raise self.fail_create
        if spec.sandbox_id in self.sandboxes:
            raise SandboxStateError(f"{spec.sandbox_id} exists")
        address = self._address()
        argv = ["-c", "import time; time.sleep(3600)"] if self.broken_envd else [
            "-m", "corral.envd", "--host", str(address), "--port", str(ENVD_PORT),
            "--default-user", self.user, "--log-level", "info",
        ]  # fmt: skip
        with open(self.log_path(spec.sandbox_id), "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, *argv, stdout=log, stderr=log
            )
        runtime = RuntimeSandbox(
            sandbox_id=spec.sandbox_id,
            template_id=spec.template_id,
            runtime=self.name,
            network=SandboxNetwork(
                sandbox_id=spec.sandbox_id,
                netns=f"fake-{spec.sandbox_id}",
                host_ifname="lo",
                address=address,
                gateway=IPv4Address("127.0.0.1"),
                internet=spec.internet,
            ),
            resources=spec.resources,
        )
        self.sandboxes[spec.sandbox_id] = FakeSandbox(runtime, proc, spec.internet)
        return runtime

    def _get(self, sandbox_id: str) -> FakeSandbox:
        try:
            return self.sandboxes[sandbox_id]
        except KeyError:
            raise SandboxNotFound(sandbox_id) from None

    async def destroy(
        self, sandbox_id: str, before_teardown: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        sandbox = self.sandboxes.pop(sandbox_id, None)
        if sandbox is None:
            return
        self.destroyed.append(sandbox_id)
        await _kill(sandbox.proc)

    async def pause(
        self, sandbox_id: str, before_snapshot: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        sandbox = self._get(sandbox_id)
        if sandbox.runtime.state == "paused":
            raise SandboxStateError(f"{sandbox_id} is paused")
        sandbox.proc.send_signal(signal.SIGSTOP)
        sandbox.runtime = replace(sandbox.runtime, state="paused")

    async def resume(self, sandbox_id: str) -> RuntimeSandbox:
        sandbox = self._get(sandbox_id)
        if sandbox.runtime.state != "paused":
            raise SandboxStateError(f"{sandbox_id} is running")
        sandbox.proc.send_signal(signal.SIGCONT)
        sandbox.runtime = replace(sandbox.runtime, state="running")
        return sandbox.runtime

    def snapshot_key(self) -> str | None:
        return None

    async def snapshot(
        self,
        sandbox_id: str,
        dest: Path,
        before_snapshot: Callable[[], Awaitable[None]] | None = None,
        *,
        memory: bool = True,
        keep: bool = False,
    ) -> None:
        """Files only, and the fake has none of its own: an empty upper layer."""
        if memory:
            raise SandboxStateError("the fake driver cannot save memory")
        self._get(sandbox_id)
        if before_snapshot is not None:
            await before_snapshot()
        (dest / "upper").mkdir(parents=True)
        if not keep:
            await self.destroy(sandbox_id)

    async def set_internet(self, sandbox_id: str, allowed: bool) -> None:
        self._get(sandbox_id).internet = allowed
        self.internet_calls.append((sandbox_id, allowed))

    async def stats(self, sandbox_id: str) -> SandboxStats:
        self._get(sandbox_id)
        return SandboxStats(0, 0, 0, 0, 0, 0)

    def log_path(self, sandbox_id: str) -> Path:
        return self.log_dir / f"{sandbox_id}.log"

    async def alive(self) -> set[str]:
        return {sid for sid, s in self.sandboxes.items() if s.proc.returncode is None}

    async def discover(self) -> list[RuntimeSandbox]:
        return [s.runtime for s in self.sandboxes.values() if s.proc.returncode is None]

    async def cleanup_orphans(self, keep: set[str]) -> list[str]:
        self.cleanup_calls.append(set(keep))
        orphans = [sid for sid in self.sandboxes if sid not in keep]
        for sid in orphans:
            await self.destroy(sid)
        return orphans

    async def close(self) -> None:
        for sid in list(self.sandboxes):
            await self.destroy(sid)

    async def lose(self, sandbox_id: str) -> None:
        """Forget a sandbox as if it had vanished from the host (killed behind our back)."""
        await _kill(self.sandboxes.pop(sandbox_id).proc)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()
