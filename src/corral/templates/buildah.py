"""buildah, driven as a subprocess: builds with the layer cache, image import and export.

Storage lives under the node's data directory (overlay where the kernel allows it, else vfs)
and builds run with chroot isolation, which needs no user namespace or runtime of its own.
Output is handed to a callback line by line as it comes, so a build's log is live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.templates.errors import BuildFailed

IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Where Debian-like images (and pip, curl, apt, git in them) look for trusted CAs."""

BUILD_NICENESS = 10

LineSink = Callable[[str], Awaitable[None] | None]


@dataclass(frozen=True)
class ImageConfig:
    image_id: str
    env: dict[str, str]
    user: str
    workdir: str
    size: int


class Buildah:
    def __init__(self, root: Path, runroot: Path, driver: str = "overlay") -> None:
        self.root = root
        self.runroot = runroot
        self.driver = driver

    @staticmethod
    def available() -> bool:
        return shutil.which("buildah") is not None

    def _argv(self, *args: str) -> list[str]:
        return [
            "buildah", "--root", str(self.root), "--runroot", str(self.runroot),
            "--storage-driver", self.driver, *args,
        ]  # fmt: skip

    async def _run(
        self,
        *args: str,
        sink: LineSink | None = None,
        stdin: bytes | None = None,
        niced: bool = False,
    ) -> str:
        """Run buildah; its output goes to `sink` line by line (and is returned when no sink).
        `niced`: at a lower CPU priority (builds), so that sandboxes on the node come first."""
        argv = self._argv(*args)
        proc = await asyncio.create_subprocess_exec(
            *(["nice", "-n", str(BUILD_NICENESS), *argv] if niced else argv),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        collected: list[str] = []
        assert proc.stdout is not None
        try:
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                if sink is None:
                    collected.append(line)
                    continue
                pending = sink(line)
                if pending is not None:
                    await pending
            code = await proc.wait()
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if code != 0:
            tail = "\n".join(collected[-20:])
            raise BuildFailed(
                f"buildah {args[0]} failed (exit {code})" + (f": {tail}" if tail else "")
            )
        return "\n".join(collected)

    async def bud(
        self,
        context: Path,
        containerfile: Path,
        tag: str,
        *,
        sink: LineSink,
        no_cache: bool = False,
        pull: str = "always",
        authfile: Path | None = None,
        tls_verify: bool = True,
        ca_bundle: Path | None = None,
    ) -> None:
        """`pull`: buildah's policy (`always`, `never`, …); `authfile`: registry credentials
        (a file, so that they are not on the command line for every host user to read);
        `ca_bundle`: the node's trusted CAs, mounted over the image's for RUN steps only."""
        args = [
            "bud", "--isolation", "chroot", "--layers", "--force-rm", "--format", "oci",
            "--network", "host", "-f", str(containerfile), "-t", tag, f"--pull={pull}",
        ]  # fmt: skip
        if no_cache:
            args.append("--no-cache")
        if authfile is not None:
            args += ["--authfile", str(authfile)]
        if not tls_verify:
            args.append("--tls-verify=false")
        if ca_bundle is not None:
            args += ["--volume", f"{ca_bundle}:{IMAGE_CA_BUNDLE}:ro"]
        await self._run(*args, str(context), sink=sink, niced=True)

    async def exists(self, image: str) -> bool:
        try:
            await self._run("inspect", "--type", "image", image)
        except BuildFailed:
            return False
        return True

    async def import_rootfs(self, rootfs: Path, tag: str) -> None:
        """A directory tree as a one-layer image (the offline base images, or a template that
        was not built here)."""
        container = (await self._run("from", "scratch")).strip().splitlines()[-1]
        try:
            mount = (await self._run("mount", container)).strip().splitlines()[-1]
            try:
                await _copy_tree(rootfs, Path(mount))
            finally:
                await self._run("umount", container)
            await self._run("commit", "-q", container, tag)
        finally:
            await self._run("rm", container)

    async def config(self, image: str) -> ImageConfig:
        raw: dict[str, Any] = json.loads(await self._run("inspect", "--type", "image", image))
        conf = (raw.get("OCIv1") or {}).get("config") or {}
        env = dict(e.split("=", 1) for e in conf.get("Env") or [] if "=" in e)
        image_id = str(raw.get("FromImageID") or raw.get("FromImageDigest") or "")
        size = int(raw.get("Size") or 0) if isinstance(raw.get("Size"), int) else 0
        return ImageConfig(
            image_id, env, conf.get("User") or "", conf.get("WorkingDir") or "", size
        )

    async def export_rootfs(self, image: str, target: Path) -> None:
        """Copy the image's root filesystem into `target` (made here; must not exist)."""
        container = (await self._run("from", "--pull-never", image)).strip().splitlines()[-1]
        try:
            mount = (await self._run("mount", container)).strip().splitlines()[-1]
            await asyncio.to_thread(target.mkdir, parents=True)
            await _copy_tree(Path(mount), target)
        finally:
            await self._run("umount", container)
            await self._run("rm", container)

    async def release_mounts(self) -> list[str]:
        """Unmount what buildah's storage left mounted under its root (its overlay driver keeps
        its home bind-mounted after every command), so the directory can be removed."""
        return await asyncio.to_thread(unmount_under, self.root)

    async def remove_image(self, image: str) -> None:
        with contextlib.suppress(BuildFailed):
            await self._run("rmi", image)


def unmount_under(root: Path) -> list[str]:
    """Lazily unmount every mount at or below `root`, deepest first; the ones unmounted."""
    prefix = str(root.resolve())
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1].replace("\\040", " ") for line in mounts]
    mine = sorted(
        (p for p in points if p == prefix or p.startswith(prefix + "/")), key=len, reverse=True
    )
    done = []
    for point in dict.fromkeys(mine):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0:
            done.append(point)
    return done


async def link_tree(source: Path, target: Path) -> None:
    """A copy of a tree whose files are hard links to the source's (`cp -al`)."""
    proc = await asyncio.create_subprocess_exec(
        "cp", "-al", str(source), str(target), stderr=asyncio.subprocess.PIPE
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BuildFailed(f"linking {source} failed: {err.decode(errors='replace')[-500:]}")


async def _copy_tree(source: Path, target: Path) -> None:
    """`cp -a` (owners, modes, links, xattrs kept; reflinks where the filesystem has them)."""
    proc = await asyncio.create_subprocess_exec(
        "cp", "-a", "--reflink=auto", f"{source}/.", str(target), stderr=asyncio.subprocess.PIPE
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BuildFailed(f"copying {source} failed: {err.decode(errors='replace')[-500:]}")


async def pick_driver(
    root: Path, runroot: Path, candidates: Sequence[str] = ("overlay", "vfs")
) -> str:
    """The first storage driver that works here (overlay needs the kernel to allow it on the
    storage directory's filesystem; vfs always works, copying every layer)."""
    for driver in candidates:
        try:
            await Buildah(root / driver, runroot / driver, driver)._run("images", "-q")
        except (BuildFailed, OSError):
            continue
        return driver
    raise BuildFailed("buildah works with none of the storage drivers " + ", ".join(candidates))
