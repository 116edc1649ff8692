"""Snapshots of OCI sandboxes (`Driver.snapshot`): memory images and upper layers saved while
the sandbox is held still, so that nothing half-written is in them.

* Memory (gVisor): `runsc checkpoint` stops the sandbox; its image is hard-linked out (runsc
  only reads an image when it restores, never writes it again) and the upper layer copied;
  then the sandbox is restored from its own image when it is to keep running.
* Files only (every runtime): the cgroup freezer holds every process while the upper layer is
  copied, after the caller had the sandbox flush what it buffers.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from corral.runtime.errors import SandboxStateError
from corral.runtime.host import run
from corral.runtime.oci_runtimes import OciRuntime
from corral.runtime.rootdisk import RootDisk
from corral.runtime.types import RuntimeSandbox


class SnapshotParts(Protocol):
    """What saving needs of the driver (`oci.OciDriver`)."""

    name: str
    runtime: OciRuntime

    def _dir(self, sandbox_id: str) -> Path: ...

    def _lock(self, sandbox_id: str) -> asyncio.Lock: ...

    def _record(self, sandbox_id: str) -> RuntimeSandbox: ...

    def log_path(self, sandbox_id: str) -> Path: ...

    async def pause(
        self, sandbox_id: str, before_snapshot: Callable[[], Awaitable[None]] | None = None
    ) -> None: ...

    async def resume(self, sandbox_id: str) -> RuntimeSandbox: ...

    async def destroy(
        self, sandbox_id: str, before_teardown: Callable[[], Awaitable[None]] | None = None
    ) -> None: ...


async def save_snapshot(
    driver: SnapshotParts,
    sandbox_id: str,
    dest: Path,
    before_snapshot: Callable[[], Awaitable[None]] | None = None,
    *,
    memory: bool = True,
    keep: bool = False,
) -> None:
    """`Driver.snapshot` for the OCI driver: the state is made under `<dest>.part` and
    renamed into place, so a failed save leaves nothing that looks saved."""
    if memory and not driver.runtime.checkpoints:
        raise SandboxStateError(
            f"{driver.name} cannot save a sandbox's memory (no checkpoint support on this"
            " host): only filesystem snapshots"
        )
    partial = dest.with_name(dest.name + ".part")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        if memory:
            await _save_memory(driver, sandbox_id, partial, before_snapshot, keep)
        else:
            await _save_files(driver, sandbox_id, partial, before_snapshot, keep)
        if driver.log_path(sandbox_id).is_file():
            shutil.copyfile(driver.log_path(sandbox_id), partial / "envd.log")
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not keep:
        await driver.destroy(sandbox_id)


async def _save_memory(
    driver: SnapshotParts,
    sandbox_id: str,
    into: Path,
    before_snapshot: Callable[[], Awaitable[None]] | None,
    keep: bool,
) -> None:
    """Checkpoint (the sandbox stops), copy the image and the upper layer, and restore it
    from its own image when it is to `keep` running, or when saving failed. The image
    files are never written again once saved, so hard links copy them for free."""
    await driver.pause(sandbox_id, before_snapshot)
    directory = driver._dir(sandbox_id)
    try:
        await run("cp", "-al", str(directory / "checkpoint"), str(into / "checkpoint"))
        await RootDisk(directory).save_upper(into / "upper")
    except BaseException:
        with contextlib.suppress(Exception):
            await driver.resume(sandbox_id)
        raise
    if keep:
        await driver.resume(sandbox_id)


async def _save_files(
    driver: SnapshotParts,
    sandbox_id: str,
    into: Path,
    before_snapshot: Callable[[], Awaitable[None]] | None,
    keep: bool,
) -> None:
    """The upper layer only, copied while every process is frozen (nothing half-written
    is copied); `before_snapshot` is where the caller flushes what the sandbox buffers."""
    async with driver._lock(sandbox_id):
        sandbox = driver._record(sandbox_id)
        if sandbox.state == "paused":
            raise SandboxStateError(f"sandbox {sandbox_id} is paused")
        if before_snapshot is not None:
            await before_snapshot()
        await driver.runtime.freeze(sandbox_id)
        saved = False
        try:
            await RootDisk(driver._dir(sandbox_id)).save_upper(into / "upper")
            saved = True
        finally:
            if keep or not saved:
                await driver.runtime.thaw(sandbox_id)
