"""The two OCI runtimes Corral drives, as command lines: where they differ, and only that.

* `crun`: plain namespaces + cgroups + seccomp; pause is the cgroup freezer (memory kept).
* `runsc` (gVisor, systrap platform): a user-space kernel between the code and the host; pause
  is `runsc checkpoint` to an image directory (memory kept, processes stopped on the host) and
  resume is `runsc restore` from it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import ClassVar

from corral.runtime.errors import CommandFailed, HostSetupError, SandboxStateError
from corral.runtime.host import run
from corral.runtime.reaping import reap_now, reaping


class OciRuntime:
    """Commands of one OCI runtime binary, with its state kept under `state_root`."""

    name: ClassVar[str]
    checkpoints: ClassVar[bool] = False
    """True when pause writes a memory image (and resume restores it) rather than freezing."""

    def __init__(self, state_root: Path) -> None:
        binary = shutil.which(self.name)
        if binary is None:
            raise HostSetupError(f"{self.name} is not installed: run scripts/setup-host.sh")
        self.binary = binary
        self.state_root = state_root
        state_root.mkdir(parents=True, exist_ok=True)
        self._children: dict[str, list[int]] = {}
        """Processes of our sandboxes that the runtime left to us (see `reaping.py`)."""

    async def _adopt(self, sandbox_id: str) -> None:
        self._children[sandbox_id] = await self.pids(sandbox_id)

    def reap_exited(self) -> None:
        """Collect sandbox processes that died on their own (an OOM-killed gVisor), so the
        runtime stops reporting a zombie as running."""
        for pids in self._children.values():
            for pid in pids:
                reap_now(pid)

    def global_flags(self) -> list[str]:
        return ["--root", str(self.state_root)]

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.global_flags(), *args]

    def netns_in_spec(self) -> bool:
        """True when the runtime joins the sandbox's netns from `config.json` itself."""
        return True

    def in_netns(self, netns_path: str, argv: list[str]) -> list[str]:
        """`argv` as run for a sandbox whose network namespace is `netns_path`."""
        return argv

    def pid_limits(self, pids: int) -> tuple[int, int | None]:
        """(host cgroup pids limit, RLIMIT_NPROC or None) that give the sandbox `pids` tasks."""
        return pids, None

    async def start(self, sandbox_id: str, bundle: Path, log: Path, netns_path: str) -> None:
        """Create and start the container detached; its stdio goes to `log`."""
        argv = self.argv("run", "--detach", "--bundle", str(bundle), sandbox_id)
        await _run_logged(self.in_netns(netns_path, argv), log)
        await self._adopt(sandbox_id)

    async def delete(self, sandbox_id: str) -> None:
        pids = set(await self.pids(sandbox_id)) | set(self._children.pop(sandbox_id, []))
        async with reaping(sorted(pids)):
            try:
                await run(*self.argv("delete", "--force", sandbox_id))
            except CommandFailed as exc:
                if not _is_missing(exc):
                    raise

    async def pids(self, sandbox_id: str) -> list[int]:
        """The host PIDs the runtime left to be reaped (the container's first process)."""
        try:
            state = json.loads(await run(*self.argv("state", sandbox_id)))
        except (CommandFailed, ValueError):
            return []
        pid = state.get("pid")
        return [pid] if isinstance(pid, int) and pid > 0 else []

    async def state(self, sandbox_id: str) -> str | None:
        """`running`, `paused`, `stopped`, `created`, or None when the runtime does not know it."""
        self.reap_exited()
        try:
            out = await run(*self.argv("state", sandbox_id))
        except CommandFailed:
            return None
        status: str = json.loads(out).get("status", "")
        return status or None

    async def list_states(self) -> dict[str, str]:
        """Every container the runtime knows under its root, with its status."""
        self.reap_exited()
        try:
            out = await run(*self.argv("list", "--format", "json"))
        except CommandFailed:
            return {}
        return {c["id"]: c.get("status", "") for c in json.loads(out or "[]") or []}

    async def list_ids(self) -> set[str]:
        return set(await self.list_states())

    async def pause(self, sandbox_id: str, image_dir: Path) -> None:
        await self.freeze(sandbox_id)

    async def freeze(self, sandbox_id: str) -> None:
        """Stop every process of the sandbox where it is, memory kept (`pause`: the freezer)."""
        await run(*self.argv("pause", sandbox_id))

    async def thaw(self, sandbox_id: str) -> None:
        await run(*self.argv("resume", sandbox_id))

    async def resume(
        self, sandbox_id: str, bundle: Path, image_dir: Path, log: Path, netns_path: str
    ) -> None:
        await self.thaw(sandbox_id)

    async def restore(
        self, sandbox_id: str, bundle: Path, image_dir: Path, log: Path, netns_path: str
    ) -> None:
        raise SandboxStateError(f"{self.name} cannot start a sandbox from a checkpoint")


class Crun(OciRuntime):
    name = "crun"


class Runsc(OciRuntime):
    name = "runsc"
    checkpoints = True

    def __init__(self, state_root: Path) -> None:
        super().__init__(state_root)
        self._listing = asyncio.Lock()
        """Held while `runsc list` runs (the reaper's liveness check): see `delete`."""

    async def list_states(self) -> dict[str, str]:
        async with self._listing:
            return await super().list_states()

    async def delete(self, sandbox_id: str) -> None:
        """`runsc list` globs the state files, then locks each container it found, which
        creates `<id>_sandbox:<id>.lock` again for one deleted in between: a file nothing
        would ever remove. Once no list of ours is in flight, a lock without its state is
        such a leftover."""
        await super().delete(sandbox_id)
        async with self._listing:
            lock = self.state_root / f"{sandbox_id}_sandbox:{sandbox_id}.lock"
            if not lock.with_suffix(".state").exists():
                lock.unlink(missing_ok=True)

    def global_flags(self) -> list[str]:
        # overlay2=none: writes go to our overlay on the host, whose upper layer has the disk
        # limit; gVisor's own memory-backed overlay would bypass it and count against RAM.
        # net-disconnect-ok: a checkpoint drops open TCP connections (the SDK's keep-alive to
        # envd) instead of refusing to save; clients reconnect after the restore.
        return [
            *super().global_flags(),
            "--platform=systrap",
            "--overlay2=none",
            "--net-disconnect-ok",
        ]

    async def pids(self, sandbox_id: str) -> list[int]:
        """gVisor's sandbox process and its gofer, from runsc's own state file."""
        pids: list[int] = []
        for path in self.state_root.glob(f"{sandbox_id}_sandbox:*.state"):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            candidates = [state.get("goferPid"), (state.get("sandbox") or {}).get("pid")]
            pids += [p for p in candidates if isinstance(p, int) and p > 0]
        return pids

    def in_netns(self, netns_path: str, argv: list[str]) -> list[str]:
        # runsc 20240729 takes a netns for the host's root one when it can see
        # /proc/sys/net/core/rmem_default, and refuses to start its netstack there; newer
        # kernels (6.18 here) show that file in every netns. runsc runs in a private mount
        # namespace with /proc/sys/net masked, so the check passes and gVisor's own network
        # stack (which checkpoints, unlike --network=host) serves the sandbox's netns.
        script = 'mount -t tmpfs -o size=4k,mode=555 corral-mask /proc/sys/net && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "runsc",
            *argv,
        ]

    def pid_limits(self, pids: int) -> tuple[int, int | None]:
        # The host cgroup also holds gVisor's own threads and systrap stubs (~200 at rest), and
        # a Go runtime that cannot make a thread dies (gVisor issue 2490). So the app's limit is
        # enforced inside gVisor as RLIMIT_NPROC (fork gets EAGAIN), and the host limit is a
        # roomier backstop.
        return 4 * pids + 512, pids

    async def pause(self, sandbox_id: str, image_dir: Path) -> None:
        image_dir.mkdir(parents=True, exist_ok=True)
        await run(*self.argv("checkpoint", "--image-path", str(image_dir), sandbox_id))
        # The checkpointed container has exited; its id must be free for the restore.
        await self.delete(sandbox_id)

    async def resume(
        self, sandbox_id: str, bundle: Path, image_dir: Path, log: Path, netns_path: str
    ) -> None:
        await self.restore(sandbox_id, bundle, image_dir, log, netns_path)
        shutil.rmtree(image_dir, ignore_errors=True)

    async def restore(
        self, sandbox_id: str, bundle: Path, image_dir: Path, log: Path, netns_path: str
    ) -> None:
        """Start `sandbox_id` from a checkpoint, which is only read: several sandboxes may
        restore from one template snapshot at once. The network comes from `netns_path`,
        read afresh, so a restored sandbox has its own address."""
        argv = self.argv(
            "restore",
            "--detach",
            "--image-path",
            str(image_dir),
            "--bundle",
            str(bundle),
            sandbox_id,
        )
        await _run_logged(self.in_netns(netns_path, argv), log)
        await self._adopt(sandbox_id)


RUNTIMES: dict[str, type[OciRuntime]] = {"crun": Crun, "runsc": Runsc}


def _is_missing(exc: CommandFailed) -> bool:
    text = exc.stderr.lower()
    return "does not exist" in text or "not found" in text or "no such file" in text


async def _run_logged(argv: list[str], log: Path) -> None:
    """Run a runtime command whose container inherits its stdio: all of it goes to `log`.

    A pipe would stay open for the container's whole life, so the runtime's own error message
    is read back from the log when the command fails.
    """
    with open(log, "ab") as out:
        start = out.tell()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out
        )
        await proc.wait()
    if proc.returncode != 0:
        with open(log, "rb") as f:
            f.seek(start)
            err = f.read()[-4000:]
        raise CommandFailed(argv, proc.returncode or 0, err.decode(errors="replace"))
