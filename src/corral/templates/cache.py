"""A node's cache of artifacts fetched from a shared store (an S3 bucket a cluster uses).

Artifacts are content-addressed (the key `files/<hash>` names its content), so a cached copy
never goes stale: each node fetches one once and every later build reads its own copy. The
cache keeps under a size limit by dropping the least recently used files first.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path

from corral.templates.store import ArtifactStore, check_key

DEFAULT_LIMIT = 4 << 30


class FetchCache:
    def __init__(self, store: ArtifactStore, directory: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.store = store
        self.directory = directory
        self.limit = limit

    async def fetch(self, key: str, target: Path) -> bool:
        """Put artifact `key` at `target` (a hard link to the cached copy where the filesystem
        allows one); True when the cache already had it."""
        cached = self.directory / check_key(key)
        hit = cached.is_file()
        if hit:
            os.utime(cached)  # its age is the time it was last used
        else:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(f".{cached.name}.{secrets.token_hex(4)}.part")
            try:
                await self.store.fetch(key, partial)
                os.replace(partial, cached)
            finally:
                partial.unlink(missing_ok=True)
            await asyncio.to_thread(self.trim, cached)
        await asyncio.to_thread(_link_or_copy, cached, target)
        return hit

    def trim(self, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used files until the cache fits its limit; the removed."""
        files = []
        for path in self.directory.rglob("*"):
            if path.is_file() and not path.name.endswith(".part"):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        removed = []
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
                removed.append(path)
        return removed


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
