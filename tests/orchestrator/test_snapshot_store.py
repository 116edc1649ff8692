"""Snapshots through the artifact store, both ways it stores them: a local directory gets the
state as hard links, any other store (S3) a tar stream. Either way an overlay upper layer comes
back whole: owners, modes, whiteouts (0/0 character devices) and `trusted.overlay.*` xattrs."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corral.orchestrator.errors import SnapshotNotFound
from corral.orchestrator.snapshots import NodeSnapshots, SnapshotMeta
from corral.runtime.types import Resources
from corral.templates.store import ArtifactStore, LocalDirStore

pytestmark = pytest.mark.root


class ArchiveOnlyStore:
    """The store protocol's four calls only, as an object store has them."""

    def __init__(self, root: Path) -> None:
        self._local = LocalDirStore(root)

    async def exists(self, key: str) -> bool:
        return await self._local.exists(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        return await self._local.put(key, chunks)

    async def fetch(self, key: str, target: Path) -> None:
        await self._local.fetch(key, target)

    async def delete(self, key: str) -> None:
        await self._local.delete(key)


def _upper(state: Path) -> None:
    upper = state / "upper"
    (upper / "home" / "user").mkdir(parents=True)
    (upper / "home" / "user" / "f").write_text("kept")
    os.chown(upper / "home" / "user" / "f", 1000, 1000)
    os.chmod(upper / "home" / "user" / "f", 0o640)
    os.mknod(upper / "gone", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout
    (upper / "opaque").mkdir()
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    (state / "checkpoint").mkdir()
    (state / "checkpoint" / "pages.img").write_bytes(os.urandom(4096))


def _check(state: Path) -> None:
    f = state / "upper" / "home" / "user" / "f"
    assert f.read_text() == "kept"
    st = f.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o640)
    gone = os.lstat(state / "upper" / "gone")
    assert os.major(gone.st_rdev) == 0 and os.minor(gone.st_rdev) == 0
    assert os.getxattr(state / "upper" / "opaque", "trusted.overlay.opaque") == b"y"
    assert (state / "checkpoint" / "pages.img").stat().st_size == 4096


@pytest.mark.parametrize("kind", ["local-directory", "archive-only"])
async def test_saved_on_one_node_fetched_on_another(kind: str, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("whiteouts and trusted.* xattrs need root")
    root = tmp_path / "artifacts"
    store: ArtifactStore = (
        LocalDirStore(root) if kind == "local-directory" else ArchiveOnlyStore(root)
    )
    saving = NodeSnapshots(tmp_path / "node-a", store)
    _upper(saving.prepare("snap1"))
    meta = SnapshotMeta(
        snapshot_id="snap1",
        template_id="base",
        build_id="",
        resources=Resources(),
        memory=True,
        runtime_key="runsc:x",
        created_at=datetime.now(UTC),
    )
    saved = await saving.save(meta)
    assert saved.size_bytes > 4096 and saving.published("snap1")
    assert await saving.stored("snap1")
    as_tree = (root / "snapshots" / "snap1").is_dir()
    assert as_tree == (kind == "local-directory")
    assert (root / "snapshots" / "snap1.tar").is_file() != as_tree

    fetching = NodeSnapshots(tmp_path / "node-b", store)
    assert not fetching.cached("snap1")
    assert (await fetching.fetch("snap1")).runtime_key == "runsc:x"
    _check(fetching.state("snap1"))

    await saving.delete("snap1")
    assert not await fetching.stored("snap1")
    assert sorted(p.name for p in (root / "snapshots").iterdir()) == []
    with pytest.raises(SnapshotNotFound):
        await NodeSnapshots(tmp_path / "node-c", store).fetch("snap1")
