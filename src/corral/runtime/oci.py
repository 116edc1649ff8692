"""The `oci` driver: sandboxes as OCI containers under runsc (gVisor) or crun.

Per sandbox it puts together the network namespace (`network.py`), the root filesystem
(`rootdisk.py`: template lower layer + size-limited upper), the OCI bundle (`bundle.py`) and the
runtime (`oci_runtimes.py`), and writes a record (`sandbox.json`) so that a restarted
orchestrator finds what it made. Every step of `create` is undone if a later one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from corral import logs
from corral.runtime import cgroups
from corral.runtime.bundle import bind, oci_config
from corral.runtime.errors import SandboxNotFound, SandboxStateError
from corral.runtime.oci_runtimes import RUNTIMES, OciRuntime
from corral.runtime.oci_snapshot import save_snapshot
from corral.runtime.reaping import become_subreaper
from corral.runtime.records import dump_record, load_record
from corral.runtime.rootdisk import RootDisk
from corral.runtime.types import Networks, RuntimeSandbox, SandboxSpec, SandboxStats

log = logs.get("runtime.oci")

ENVD_MOUNT = "/opt/corral"
DEFAULT_NAMESERVERS = ("8.8.8.8", "1.1.1.1")
SNAPSHOT_LAYOUT = "tmp-on-disk"
"""Changes when the sandbox's mounts change: a memory image restores only into the same ones."""


class OciDriver:
    """`corral.runtime.types.Driver` on an OCI runtime binary."""

    def __init__(
        self,
        *,
        runtime: str,
        data_dir: Path,
        networks: Networks,
        envd_dir: Path,
        envd_argv: list[str],
        nameservers: tuple[str, ...] = DEFAULT_NAMESERVERS,
        instance: str = "corral",
    ) -> None:
        """`instance` names this driver's runtime state (/run/<instance>/<runtime>) and cgroup
        parent (/<instance>): what `cleanup_orphans` may remove is only what carries it."""
        self.name = runtime
        self.runtime: OciRuntime = RUNTIMES[runtime](Path("/run") / instance / runtime)
        become_subreaper()
        self.checkpoints = self.runtime.checkpoints
        self.cgroups = cgroups.CgroupReader(instance)
        self.sandboxes_dir = data_dir / "sandboxes"
        self.sandboxes_dir.mkdir(parents=True, exist_ok=True)
        self.networks = networks
        self.envd_dir = envd_dir
        self.envd_argv = envd_argv
        self.nameservers = nameservers
        self._locks: dict[str, asyncio.Lock] = {}

    def _dir(self, sandbox_id: str) -> Path:
        return self.sandboxes_dir / sandbox_id

    def _lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    async def create(self, spec: SandboxSpec) -> RuntimeSandbox:
        sid = spec.sandbox_id
        directory = self._dir(sid)
        if directory.exists():
            raise SandboxStateError(f"sandbox {sid} already exists on this host")
        async with self._lock(sid):
            directory.mkdir(parents=True)
            if spec.log_from is not None and spec.log_from.is_file():
                shutil.copyfile(spec.log_from, self.log_path(sid))
            try:
                disk = RootDisk(directory)
                seed = spec.snapshot / "upper" if spec.snapshot is not None else None
                network, _ = await asyncio.gather(
                    self.networks.create(sid, internet=spec.internet),
                    disk.create(spec.rootfs, spec.resources.disk_mb, seed),
                )
                sandbox = RuntimeSandbox(
                    sandbox_id=sid,
                    template_id=spec.template_id,
                    runtime=self.name,
                    network=network,
                    resources=spec.resources,
                )
                self._write_bundle(spec, disk, sandbox)
                dump_record(directory / "sandbox.json", sandbox, spec.rootfs)
                if spec.snapshot is not None and (spec.snapshot / "checkpoint").is_dir():
                    await self.runtime.restore(
                        sid,
                        directory / "bundle",
                        spec.snapshot / "checkpoint",
                        self.log_path(sid),
                        network.netns_path,
                    )
                else:
                    await self.runtime.start(
                        sid, directory / "bundle", self.log_path(sid), network.netns_path
                    )
            except BaseException:
                await self._teardown(sid)
                raise
        log.info("sandbox started", sandbox_id=sid, runtime=self.name, address=str(network.address))
        return sandbox

    def _write_bundle(self, spec: SandboxSpec, disk: RootDisk, sandbox: RuntimeSandbox) -> None:
        directory = self._dir(spec.sandbox_id)
        resolv = directory / "resolv.conf"
        resolv.write_text("".join(f"nameserver {ns}\n" for ns in self.nameservers))
        hosts = directory / "hosts"
        hosts.write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{sandbox.address}\tcorral\n")
        host_pids, nproc = self.runtime.pid_limits(spec.resources.pids)
        config = oci_config(
            rootfs=disk.rootfs,
            argv=self.envd_argv,
            env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            resources=spec.resources,
            netns_path=sandbox.network.netns_path if self.runtime.netns_in_spec() else None,
            cgroups_path=self.cgroups.path(spec.sandbox_id),
            hostname="corral",
            host_pids=host_pids,
            nproc=nproc,
            binds=[
                bind(self.envd_dir, ENVD_MOUNT),
                bind(resolv, "/etc/resolv.conf"),
                bind(hosts, "/etc/hosts"),
                *self._disk_tmp(disk),
            ],
        )
        bundle = directory / "bundle"
        bundle.mkdir(exist_ok=True)
        (bundle / "config.json").write_text(json.dumps(config))

    def _disk_tmp(self, disk: RootDisk) -> list[dict[str, object]]:
        """gVisor mounts a tmpfs of its own on /tmp unless the spec mounts something there: /tmp
        is kept on the sandbox's disk instead, as under crun (and in E2B's VMs), so that it
        counts against the disk limit, not memory, and outlives a filesystem-only pause."""
        if not self.runtime.checkpoints:
            return []
        tmp = disk.rootfs / "tmp"
        tmp.mkdir(mode=0o1777, exist_ok=True)
        return [bind(tmp, "/tmp", readonly=False)]

    async def destroy(
        self, sandbox_id: str, before_teardown: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        async with self._lock(sandbox_id):
            if self.runtime.checkpoints and before_teardown is not None:
                with contextlib.suppress(Exception):
                    await self.networks.set_frozen(sandbox_id, True)
                    await asyncio.wait_for(before_teardown(), 1.0)
            await self._teardown(sandbox_id)
        self._locks.pop(sandbox_id, None)
        log.info("sandbox destroyed", sandbox_id=sandbox_id)

    async def _teardown(self, sandbox_id: str) -> None:
        """Remove everything a sandbox may have, in reverse order of creation; idempotent."""
        await self.runtime.delete(sandbox_id)
        await RootDisk(self._dir(sandbox_id)).destroy()
        await self.networks.destroy(sandbox_id)
        self.cgroups.remove(sandbox_id)
        shutil.rmtree(self._dir(sandbox_id), ignore_errors=True)

    def snapshot_key(self) -> str | None:
        """A snapshot holds envd's code in memory and reopens its files from the envd mount:
        only a node with the same runtime and envd build may start from it."""
        if not self.runtime.checkpoints:
            return None
        return f"{self.name}:{self.envd_dir.name}:{SNAPSHOT_LAYOUT}"

    async def snapshot(
        self,
        sandbox_id: str,
        dest: Path,
        before_snapshot: Callable[[], Awaitable[None]] | None = None,
        *,
        memory: bool = True,
        keep: bool = False,
    ) -> None:
        await save_snapshot(self, sandbox_id, dest, before_snapshot, memory=memory, keep=keep)

    def log_path(self, sandbox_id: str) -> Path:
        return self._dir(sandbox_id) / "envd.log"

    def _record(self, sandbox_id: str) -> RuntimeSandbox:
        path = self._dir(sandbox_id) / "sandbox.json"
        if not path.exists():
            raise SandboxNotFound(f"sandbox {sandbox_id} is not on this host")
        return load_record(path)[0]

    async def pause(
        self, sandbox_id: str, before_snapshot: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        async with self._lock(sandbox_id):
            sandbox = self._record(sandbox_id)
            if sandbox.state == "paused":
                raise SandboxStateError(f"sandbox {sandbox_id} is already paused")
            directory = self._dir(sandbox_id)
            if not self.runtime.checkpoints:
                await self.runtime.pause(sandbox_id, directory / "checkpoint")
            else:
                # No connection may be open in a saved gVisor: none new from now on, then the
                # caller has envd drop the open ones, then the checkpoint.
                await self.networks.set_frozen(sandbox_id, True)
                try:
                    if before_snapshot is not None:
                        await before_snapshot()
                    await self.runtime.pause(sandbox_id, directory / "checkpoint")
                except BaseException:
                    await self.networks.set_frozen(sandbox_id, False)
                    raise
            self._save(replace(sandbox, state="paused"))

    async def resume(self, sandbox_id: str) -> RuntimeSandbox:
        async with self._lock(sandbox_id):
            sandbox = self._record(sandbox_id)
            if sandbox.state != "paused":
                raise SandboxStateError(f"sandbox {sandbox_id} is not paused")
            directory = self._dir(sandbox_id)
            if self.runtime.checkpoints:
                await self.networks.readdress(sandbox_id)
            await self.runtime.resume(
                sandbox_id,
                directory / "bundle",
                directory / "checkpoint",
                self.log_path(sandbox_id),
                sandbox.network.netns_path,
            )
            if self.runtime.checkpoints:
                await self.networks.set_frozen(sandbox_id, False)
            resumed = replace(sandbox, state="running")
            self._save(resumed)
            return resumed

    def _save(self, sandbox: RuntimeSandbox) -> None:
        path = self._dir(sandbox.sandbox_id) / "sandbox.json"
        dump_record(path, sandbox, load_record(path)[1])

    async def set_internet(self, sandbox_id: str, allowed: bool) -> None:
        sandbox = self._record(sandbox_id)
        await self.networks.set_internet(sandbox_id, allowed)
        self._save(replace(sandbox, network=replace(sandbox.network, internet=allowed)))

    async def stats(self, sandbox_id: str) -> SandboxStats:
        self._record(sandbox_id)
        used, limit = self.cgroups.memory_bytes(sandbox_id)
        disk_used, disk_total = RootDisk(self._dir(sandbox_id)).used_bytes()
        return SandboxStats(
            cpu_usage_ns=self.cgroups.cpu_usage_ns(sandbox_id),
            memory_bytes=used,
            memory_limit_bytes=limit,
            pids=self.cgroups.pids_current(sandbox_id),
            disk_used_bytes=disk_used,
            disk_limit_bytes=disk_total,
        )

    async def alive(self) -> set[str]:
        states = await self.runtime.list_states()
        alive = {sid for sid, status in states.items() if status in ("running", "paused")}
        # A checkpointed gVisor has no container, only its image and record.
        alive |= {p.parent.name for p in self.sandboxes_dir.glob("*/checkpoint")}
        return alive

    async def discover(self) -> list[RuntimeSandbox]:
        """Sandboxes whose record, root filesystem and container are all still there."""
        found = []
        for path in sorted(self.sandboxes_dir.glob("*/sandbox.json")):
            try:
                sandbox, _ = load_record(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("unreadable sandbox record", path=str(path), error=str(exc))
                continue
            status = await self.runtime.state(sandbox.sandbox_id)
            alive = status in ("running", "paused") or (
                sandbox.state == "paused" and (path.parent / "checkpoint").exists()
            )
            if alive and RootDisk(path.parent).mounted():
                found.append(sandbox)
        return found

    async def cleanup_orphans(self, keep: set[str]) -> list[str]:
        """Tear down every sandbox this driver (or its network) left that is not in `keep`."""
        candidates = {p.name for p in self.sandboxes_dir.iterdir() if p.is_dir()}
        candidates |= await self.runtime.list_ids()
        candidates |= self.cgroups.listed()
        removed = sorted(candidates - keep)
        for sandbox_id in removed:
            await self._teardown(sandbox_id)
        removed_net = await self.networks.cleanup_orphans(keep)
        if removed or removed_net:
            log.info("orphans removed", sandboxes=removed, networks=removed_net)
        return sorted(set(removed) | set(removed_net))
