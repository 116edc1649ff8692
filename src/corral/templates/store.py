"""The artifact store: content-addressed files that builds need, behind one small interface.

A local directory by default (`file:///var/lib/corral/artifacts`); object stores for clusters
implement the same four calls. Keys are relative paths such as `files/<sha256>`; writes are
atomic (a reader never sees half an upload) and idempotent (the same content, the same key).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from corral.templates.errors import ArtifactNotFound, TemplateError


class ArtifactStore(Protocol):
    async def exists(self, key: str) -> bool: ...

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the stream under `key`; the number of bytes written."""
        ...

    async def fetch(self, key: str, target: Path) -> None:
        """Copy the artifact to a local file (a node caching what it lacks)."""
        ...

    async def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise TemplateError(f"invalid artifact key {key!r}")
    return key


class LocalDirStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
        written = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return written

    async def fetch(self, key: str, target: Path) -> None:
        source = self.path(key)
        if not source.is_file():
            raise ArtifactNotFound(f"artifact {key} is not in the store")
        await asyncio.to_thread(shutil.copyfile, source, target)

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    async def put_tree(self, key: str, directory: Path) -> None:
        """Store a directory as it is (no archive): hard links when the store is on the same
        filesystem, so a node saving a snapshot to its own local store writes nothing twice.
        Only for files never written in place again (snapshots): they share their inodes."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
        try:
            await _copy_tree(directory, partial)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    async def fetch_tree(self, key: str, target: Path) -> None:
        """The directory stored under `key`, copied (linked) to `target`, which must not exist."""
        source = self.path(key)
        if not source.is_dir():
            raise ArtifactNotFound(f"artifact {key} is not in the store")
        await _copy_tree(source, target)

    async def has_tree(self, key: str) -> bool:
        return self.path(key).is_dir()

    async def delete_tree(self, key: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.path(key), True)


async def _copy_tree(source: Path, target: Path) -> None:
    """`cp -al` (hard links, owners, modes, xattrs), or `cp -a` across filesystems."""
    for flags in ("-al", "-a"):
        proc = await asyncio.create_subprocess_exec(
            "cp", flags, str(source), str(target), stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode == 0:
            return
        await asyncio.to_thread(shutil.rmtree, target, True)
    raise TemplateError(f"copying {source} to {target} failed: {err.decode(errors='replace')}")


def open_store(url: str) -> ArtifactStore:
    """`file:///dir` or a plain path; `s3://bucket/prefix?endpoint=…&region=…` for a cluster
    (s3store.py, with the `s3` extra installed)."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return LocalDirStore(Path(parsed.path if parsed.scheme else url))
    if parsed.scheme == "s3":
        try:
            from corral.templates.s3store import S3Store
        except ImportError as exc:
            raise TemplateError(
                "the s3:// artifact store needs boto3: pip install 'corral[s3]'"
            ) from exc
        return S3Store.from_url(url)
    if parsed.scheme in ("gs", "gcs"):
        raise TemplateError(
            "gs:// artifact stores are not supported yet (GCS's S3-compatible XML API, "
            "s3://bucket?endpoint=https://storage.googleapis.com with HMAC keys, is untested)"
        )
    raise TemplateError(f"unsupported artifact store {url!r} (use file:///path or s3://bucket)")
