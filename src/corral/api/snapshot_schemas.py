"""Bodies of snapshots and forks (wire protocol 2.1: create_snapshot, list_snapshots, fork)."""

from __future__ import annotations

from pydantic import Field

from corral.api.schemas import Error, Request, SandboxOut, Wire

MAX_FORKS = 20


class NewSnapshot(Request):
    name: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\w.:/-]+$")
    memory: bool | None = None
    """False: the filesystem only (sandboxes from it boot afresh); omitted: full."""


class SnapshotOut(Wire):
    snapshot_id: str = Field(alias="snapshotID")
    names: list[str]


class Fork(Request):
    timeout: int | None = Field(default=None, ge=0, le=2_592_000)
    count: int | None = Field(default=None, ge=1, le=MAX_FORKS)


class ForkResult(Wire):
    """One fork: its sandbox, or why it did not start (the others are not affected)."""

    sandbox: SandboxOut | None = None
    error: Error | None = None
