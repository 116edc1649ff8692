"""A sandbox's root filesystem: the template's rootfs, read-only, under a size-limited upper layer.

The writable layer is a sparse ext4 image, loop-mounted, that holds overlayfs's `upper` and
`work` directories. A sandbox that fills it gets ENOSPC from its own filesystem while the host's
disk is untouched, and the image costs only what was written. (This host's kernel has no quota
support, so XFS project quotas — one shared filesystem, a quota per directory — are not an
option; an image per sandbox measured ~2 ms for mkfs and ~12 ms for the loop mount.)

Layout under the sandbox's directory:
    disk.img   the sparse ext4 image (the upper layer's storage)
    layer/     its mount point: layer/upper, layer/work
    rootfs/    the overlay mount the runtime uses as the container's root
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from corral.runtime.errors import CommandFailed
from corral.runtime.host import run

MKFS_OPTIONS = ("-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", "-m", "0")
"""No journal (the upper layer dies with the sandbox), no reserved blocks (all of it is theirs)."""


@dataclass(frozen=True)
class RootDisk:
    """The paths of one sandbox's root filesystem layers."""

    directory: Path

    @property
    def image(self) -> Path:
        return self.directory / "disk.img"

    @property
    def layer(self) -> Path:
        return self.directory / "layer"

    @property
    def rootfs(self) -> Path:
        return self.directory / "rootfs"

    async def create(self, lower: Path, size_mb: int, seed: Path | None = None) -> None:
        """Make the image, mount it and the overlay; undo everything if a step fails.

        `seed`: an upper layer to start from (a template snapshot's), copied in before the
        overlay is mounted, as overlayfs wants its layers left alone while mounted."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.image, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            await run("mkfs.ext4", *MKFS_OPTIONS, str(self.image))
            self.layer.mkdir(exist_ok=True)
            await run("mount", "-o", "loop,noatime", str(self.image), str(self.layer))
            (self.layer / "upper").mkdir(exist_ok=True)
            (self.layer / "work").mkdir(exist_ok=True)
            if seed is not None:
                await run("cp", "-a", f"{seed}/.", str(self.layer / "upper"))
            # Lost+found would show up in every sandbox's `/`.
            shutil.rmtree(self.layer / "lost+found", ignore_errors=True)
            self.rootfs.mkdir(exist_ok=True)
            options = (
                f"lowerdir={lower},upperdir={self.layer / 'upper'},"
                f"workdir={self.layer / 'work'},index=off,xino=off"
            )
            await run("mount", "-t", "overlay", "overlay", "-o", options, str(self.rootfs))
        except BaseException:
            await self.destroy()
            raise

    async def save_upper(self, dest: Path) -> None:
        """A copy of the upper layer (owners, modes, overlayfs whiteouts and xattrs kept)."""
        await run("cp", "-a", str(self.layer / "upper"), str(dest))

    async def destroy(self) -> None:
        """Unmount and delete; safe on a half-made or already removed disk."""
        for mountpoint in (self.rootfs, self.layer):
            await _unmount(mountpoint)
        shutil.rmtree(self.directory, ignore_errors=True)

    def mounted(self) -> bool:
        return os.path.ismount(self.rootfs)

    def used_bytes(self) -> tuple[int, int]:
        """(used, total) bytes of the writable layer, as the sandbox's `df /` would see them."""
        try:
            st = os.statvfs(self.layer)
        except OSError:
            return 0, 0
        total = st.f_blocks * st.f_frsize
        return total - st.f_bfree * st.f_frsize, total


async def _unmount(path: Path) -> None:
    if not os.path.ismount(path):
        return
    try:
        await run("umount", str(path))
    except CommandFailed:
        # Busy (a process still holds it): detach now, the kernel frees it when released.
        with contextlib.suppress(CommandFailed):
            await run("umount", "-l", str(path))
