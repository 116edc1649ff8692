"""Every sandbox the node reported as running, in memory and as one JSON file each on disk.

A restarted orchestrator must lose nothing it answered for, so a record is in the file system
(written to a temporary file, renamed over the old one: never half-written) before the call that
made it returns. There is no fsync: it cost 2-25 ms per create here, and it guards only against
a host crash, which takes every sandbox (processes, network namespaces) down with it, so the
records it would save are dropped at the next start anyway. Should sandbox state ever outlive
the host (snapshots on disk), those records need an fsync.

Records hold access tokens and env vars: files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from corral import logs
from corral.orchestrator.models import SANDBOX_ID, SandboxRecord

log = logs.get("orchestrator.registry")


class Registry:
    """Sandbox records by sandbox id, mirrored to `<state_dir>/sandboxes/<id>.json`."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "sandboxes"
        self._records: dict[str, SandboxRecord] = {}

    def load(self) -> list[SandboxRecord]:
        """Read every record from disk (at start, before serving); unreadable files are set
        aside as `*.corrupt` rather than deleted, so an operator can look at them."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._records.clear()
        for stale in self.directory.glob(".*.tmp"):  # a write cut short by a crash
            stale.unlink(missing_ok=True)
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = SandboxRecord.from_json(json.loads(path.read_text()))
                if record.sandbox_id != path.stem or not SANDBOX_ID.fullmatch(path.stem):
                    raise ValueError(f"record names sandbox {record.sandbox_id!r}")
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("unreadable sandbox record", path=str(path), error=str(exc))
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".corrupt"))
                continue
            self._records[record.sandbox_id] = record
        return list(self._records.values())

    def get(self, sandbox_id: str) -> SandboxRecord | None:
        return self._records.get(sandbox_id)

    def __contains__(self, sandbox_id: str) -> bool:
        return sandbox_id in self._records

    def __iter__(self) -> Iterator[SandboxRecord]:
        return iter(list(self._records.values()))

    def __len__(self) -> int:
        return len(self._records)

    async def put(self, record: SandboxRecord) -> None:
        """Store `record` durably, then make it visible."""
        data = json.dumps(record.to_json(), sort_keys=True).encode()
        await asyncio.to_thread(_write_atomic, self._path(record.sandbox_id), data)
        self._records[record.sandbox_id] = record

    async def remove(self, sandbox_id: str) -> None:
        self._records.pop(sandbox_id, None)
        await asyncio.to_thread(_unlink, self._path(sandbox_id))

    def _path(self, sandbox_id: str) -> Path:
        return self.directory / f"{sandbox_id}.json"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
