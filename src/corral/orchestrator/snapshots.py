"""Saved sandboxes on a node: paused ones, named snapshots and the sources of forks.

A snapshot is what `Driver.snapshot` wrote (the upper layer, and for a memory snapshot the
runtime's memory image) plus `meta.json`: which template it sits on, its resources, and for a
paused sandbox the node's record of it. Each is kept in two places:

* the node's cache, `<data_dir>/snapshots/<id>/` (`meta.json`, `state/`), what sandboxes start
  from; and
* the artifact store, `snapshots/<id>.json` and the state (`snapshots/<id>.tar`, or in a
  local directory store the directory `snapshots/<id>`, hard-linked), written before the
  snapshot counts as saved: what makes it outlive the node's disk, and what any other node
  sharing the store fetches into its own cache to resume or start from it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from corral import logs
from corral.orchestrator.errors import SnapshotNotFound
from corral.runtime.types import Resources
from corral.templates.errors import ArtifactNotFound
from corral.templates.store import ArtifactStore, LocalDirStore

log = logs.get("orchestrator.snapshots")

TAR_XATTRS = ("--xattrs", "--xattrs-include=trusted.*", "--xattrs-include=user.*")
"""Overlayfs marks opaque directories with `trusted.overlay.*`: an upper layer needs them."""
CHUNK = 1 << 20


@dataclass(frozen=True)
class SnapshotMeta:
    snapshot_id: str
    template_id: str
    build_id: str
    resources: Resources
    memory: bool
    runtime_key: str
    """`Driver.snapshot_key()` of the node that saved memory: only such a node restores it.
    Empty for a filesystem snapshot, which any runtime boots from."""
    created_at: datetime
    size_bytes: int = 0
    source_sandbox_id: str = ""
    paused: dict[str, Any] | None = None
    """A paused sandbox's record (`SandboxRecord.to_json`): how any node resumes it."""
    envd_token: str | None = None
    """The token the saved envd holds: a sandbox started from its memory must present it to
    be given its own. (The memory image holds it anyway; the store is as private.)"""

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "template_id": self.template_id,
            "build_id": self.build_id,
            "resources": vars(self.resources),
            "memory": self.memory,
            "runtime_key": self.runtime_key,
            "created_at": self.created_at.isoformat(),
            "size_bytes": self.size_bytes,
            "source_sandbox_id": self.source_sandbox_id,
            "paused": self.paused,
            "envd_token": self.envd_token,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SnapshotMeta:
        fields = dict(data)
        fields["resources"] = Resources(**fields["resources"])
        fields["created_at"] = datetime.fromisoformat(fields["created_at"])
        return cls(**fields)


def paused_snapshot_id(sandbox_id: str) -> str:
    """The snapshot holding a paused sandbox: one per sandbox, replaced by each pause."""
    return f"paused-{sandbox_id}"


class NodeSnapshots:
    def __init__(self, root: Path, store: ArtifactStore) -> None:
        self.root = root
        self.store = store
        root.mkdir(parents=True, exist_ok=True)

    def directory(self, snapshot_id: str) -> Path:
        return self.root / snapshot_id

    def state(self, snapshot_id: str) -> Path:
        """Where `Driver.snapshot` writes, and what `SandboxSpec.snapshot` points at."""
        return self.directory(snapshot_id) / "state"

    def cached(self, snapshot_id: str) -> bool:
        return (self.directory(snapshot_id) / "meta.json").is_file()

    def prepare(self, snapshot_id: str) -> Path:
        """A clean directory for a new snapshot's state (an older one of the id is removed)."""
        shutil.rmtree(self.directory(snapshot_id), ignore_errors=True)
        self.directory(snapshot_id).mkdir(parents=True)
        return self.state(snapshot_id)

    async def save(self, meta: SnapshotMeta) -> SnapshotMeta:
        """Record the written state's meta in the cache, then `publish` it."""
        directory = self.directory(meta.snapshot_id)
        size = await asyncio.to_thread(_disk_usage, directory / "state")
        meta = SnapshotMeta(**{**vars(meta), "size_bytes": size})
        (directory / "meta.json").write_text(json.dumps(meta.to_json()))
        await self.publish(meta.snapshot_id)
        return meta

    async def publish(self, snapshot_id: str) -> None:
        """Copy a cached snapshot to the store (the state, then the meta that makes it
        visible), and mark it published: a published snapshot later missing from the store
        was deleted or resumed elsewhere, an unpublished one is only not stored yet.

        A local directory store gets the state as a directory of hard links (nothing written
        twice); other stores a tar stream."""
        directory = self.directory(snapshot_id)
        key = f"snapshots/{snapshot_id}"
        if isinstance(self.store, LocalDirStore):
            await self.store.put_tree(key, directory / "state")
        else:
            await self.store.put(f"{key}.tar", _tar(directory / "state"))
        await self.store.put(f"{key}.json", _once((directory / "meta.json").read_bytes()))
        (directory / "published").touch()

    def published(self, snapshot_id: str) -> bool:
        return (self.directory(snapshot_id) / "published").exists()

    async def meta(self, snapshot_id: str) -> SnapshotMeta:
        """From the cache, else from the store; `SnapshotNotFound` when neither has it."""
        path = self.directory(snapshot_id) / "meta.json"
        if not path.is_file():
            partial = self.root / f".{snapshot_id}.json.part"
            try:
                await self.store.fetch(f"snapshots/{snapshot_id}.json", partial)
                data = json.loads(partial.read_bytes())
            except ArtifactNotFound:
                raise SnapshotNotFound(f"snapshot {snapshot_id} not found") from None
            finally:
                partial.unlink(missing_ok=True)
            return SnapshotMeta.from_json(data)
        return SnapshotMeta.from_json(json.loads(path.read_bytes()))

    async def fetch(self, snapshot_id: str) -> SnapshotMeta:
        """Make sure the cache has the snapshot (fetched from the store if not)."""
        if self.cached(snapshot_id):
            return await self.meta(snapshot_id)
        meta = await self.meta(snapshot_id)
        partial = self.root / f".{snapshot_id}.part"
        shutil.rmtree(partial, ignore_errors=True)
        (partial / "state").mkdir(parents=True)
        archive = self.root / f".{snapshot_id}.tar"
        key = f"snapshots/{snapshot_id}"
        try:
            if isinstance(self.store, LocalDirStore) and await self.store.has_tree(key):
                shutil.rmtree(partial / "state")
                await self.store.fetch_tree(key, partial / "state")
            else:
                await self.store.fetch(f"{key}.tar", archive)
                await _untar(archive, partial / "state")
            (partial / "meta.json").write_text(json.dumps(meta.to_json()))
            (partial / "published").touch()
            shutil.rmtree(self.directory(snapshot_id), ignore_errors=True)
            partial.rename(self.directory(snapshot_id))
        except ArtifactNotFound:
            raise SnapshotNotFound(f"snapshot {snapshot_id} has no saved state") from None
        finally:
            archive.unlink(missing_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
        log.info("snapshot fetched", snapshot_id=snapshot_id, bytes=meta.size_bytes)
        return meta

    async def stored(self, snapshot_id: str) -> bool:
        """Whether the store still has it (the cache may outlive a delete made elsewhere)."""
        return await self.store.exists(f"snapshots/{snapshot_id}.json")

    def drop_cached(self, snapshot_id: str) -> None:
        shutil.rmtree(self.directory(snapshot_id), ignore_errors=True)

    async def delete(self, snapshot_id: str) -> None:
        """Gone from the cache and the store; a no-op for an unknown id."""
        self.drop_cached(snapshot_id)
        await self.store.delete(f"snapshots/{snapshot_id}.json")
        if isinstance(self.store, LocalDirStore):
            await self.store.delete_tree(f"snapshots/{snapshot_id}")
        await self.store.delete(f"snapshots/{snapshot_id}.tar")

    def cached_ids(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob("*/meta.json"))


def _disk_usage(path: Path) -> int:
    """Bytes the state takes on disk (checkpoint files are sparse: what is allocated)."""
    total = 0
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            total += item.lstat().st_blocks * 512
    return total


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _tar(directory: Path) -> AsyncIterator[bytes]:
    """The directory as a tar stream (owners, modes, devices, xattrs kept), read as tar
    writes it, so nothing the size of the snapshot is held in memory."""
    proc = await asyncio.create_subprocess_exec(
        "tar",
        *TAR_XATTRS,
        "--sparse",
        "--numeric-owner",
        "-C",
        str(directory),
        "-cf",
        "-",
        ".",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    err = await proc.stderr.read()
    if await proc.wait() != 0:
        raise OSError(f"tar of {directory} failed: {err.decode(errors='replace')}")


async def _untar(archive: Path, into: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "tar",
        *TAR_XATTRS,
        "--numeric-owner",
        "-C",
        str(into),
        "-xf",
        str(archive),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise OSError(f"untar of {archive} failed: {err.decode(errors='replace')}")
