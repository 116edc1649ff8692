"""Snapshots: paused sandboxes and named snapshots, with the node that holds their state.

The artifact itself lives on the node (`node_id`); the store keeps what the API needs to find
it again and bring the sandbox back: metadata, resources, lifecycle (`config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.models import Snapshot, Team
from corral.api.db.records import SnapshotRecord
from corral.api.db.store._base import StorePart, affected, new_template_id, utcnow


def snapshot_record(row: Snapshot) -> SnapshotRecord:
    return SnapshotRecord(
        id=row.id,
        sandbox_id=row.sandbox_id,
        team_id=row.team_id,
        base_env_id=row.base_env_id,
        env_id=row.env_id,
        node_id=row.node_id,
        metadata=dict(row.metadata_),
        memory=row.memory,
        names=tuple(row.names),
        config=dict(row.config),
        created_at=row.created_at,
    )


class Snapshots(StorePart):
    async def put_snapshot(
        self,
        *,
        sandbox_id: str,
        team_id: str,
        base_env_id: str,
        node_id: str,
        snapshot_id: str | None = None,
        env_id: str | None = None,
        metadata: dict[str, str] | None = None,
        memory: bool = True,
        names: Sequence[str] = (),
        config: dict[str, Any] | None = None,
    ) -> SnapshotRecord:
        """Record a snapshot; with the id of an existing one of the team, replace it.

        Replacing (pausing a resumed sandbox again under the same id) also moves `created_at`
        to now: the record describes the newest state.
        """
        values: dict[str, Any] = {
            "sandbox_id": sandbox_id,
            "base_env_id": base_env_id,
            "env_id": env_id,
            "node_id": node_id,
            "metadata_": dict(metadata or {}),
            "memory": memory,
            "names": list(names),
            "config": dict(config or {}),
            "created_at": utcnow(),
        }
        async with self._db.session() as session:
            if await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            row = None if snapshot_id is None else await session.get(Snapshot, snapshot_id)
            if row is not None and row.team_id != team_id:
                raise AlreadyExists(f"snapshot id {snapshot_id} is another team's")
            if row is None:
                row = Snapshot(id=snapshot_id or new_template_id(), team_id=team_id, **values)
                session.add(row)
            else:
                for field, value in values.items():
                    setattr(row, field, value)
            return snapshot_record(row)

    async def get_snapshot(self, team_id: str, snapshot_id: str) -> SnapshotRecord | None:
        async with self._db.session(write=False) as session:
            row = await session.get(Snapshot, snapshot_id)
            return None if row is None or row.team_id != team_id else snapshot_record(row)

    async def snapshot_for_sandbox(self, team_id: str, sandbox_id: str) -> SnapshotRecord | None:
        """The sandbox's most recent snapshot (what resuming a paused sandbox restores)."""
        query = (
            select(Snapshot)
            .where(Snapshot.sandbox_id == sandbox_id, Snapshot.team_id == team_id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
            .limit(1)
        )
        async with self._db.session(write=False) as session:
            row = await session.scalar(query)
            return None if row is None else snapshot_record(row)

    async def list_snapshots(
        self,
        team_id: str,
        sandbox_id: str | None = None,
        *,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[SnapshotRecord]:
        """The team's snapshots, newest first, optionally of one sandbox or carrying `name`.

        `name` is matched in Python (names are a JSON list, queried differently by each
        database): fine for the few snapshots a team keeps.
        """
        query = (
            select(Snapshot)
            .where(Snapshot.team_id == team_id)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
        )
        if sandbox_id is not None:
            query = query.where(Snapshot.sandbox_id == sandbox_id)
        if name is None:
            query = query.offset(max(offset, 0)).limit(limit)
        async with self._db.session(write=False) as session:
            records = [snapshot_record(row) for row in await session.scalars(query)]
        if name is not None:
            records = [r for r in records if name in r.names][max(offset, 0) :][:limit]
        return records

    async def delete_snapshot(self, team_id: str, snapshot_id: str) -> bool:
        """False when the team has no such snapshot."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.team_id == team_id)
            )
            return affected(result) > 0
