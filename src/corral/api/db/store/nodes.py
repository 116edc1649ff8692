"""Orchestrator nodes the control plane knows, and the sandbox lifecycle history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from corral.api.db.models import Node, SandboxEvent
from corral.api.db.records import EventRecord, NodeRecord
from corral.api.db.store._base import StorePart, utcnow


def node_record(row: Node) -> NodeRecord:
    return NodeRecord(
        id=row.id,
        address=row.address,
        status=row.status,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


def event_record(row: SandboxEvent) -> EventRecord:
    return EventRecord(
        id=row.id,
        sandbox_id=row.sandbox_id,
        team_id=row.team_id,
        kind=row.kind,
        at=row.at,
        data=dict(row.data),
    )


class Nodes(StorePart):
    async def upsert_node(self, node_id: str, address: str, *, status: str = "ready") -> NodeRecord:
        """Register a node or refresh it (address, status, `last_seen_at`): a heartbeat.

        A single INSERT … ON CONFLICT, so that two API processes seeing a new node at once do
        not both try to insert it.
        """
        now = utcnow()
        values = {"id": node_id, "address": address, "status": status}
        refresh = {"address": address, "status": status, "last_seen_at": now}
        if self._db.dialect == "postgresql":
            pg = postgresql.insert(Node).values(**values, created_at=now, last_seen_at=now)
            statement: Any = pg.on_conflict_do_update(index_elements=[Node.id], set_=refresh)
        else:
            lite = sqlite.insert(Node).values(**values, created_at=now, last_seen_at=now)
            statement = lite.on_conflict_do_update(index_elements=[Node.id], set_=refresh)
        async with self._db.session() as session:
            await session.execute(statement)
            row = await session.get(Node, node_id, populate_existing=True)
            assert row is not None  # inserted or updated just above
            return node_record(row)

    async def list_nodes(self) -> list[NodeRecord]:
        async with self._db.session(write=False) as session:
            rows = await session.scalars(select(Node).order_by(Node.id))
            return [node_record(row) for row in rows]


class Events(StorePart):
    async def record_event(
        self, sandbox_id: str, team_id: str, kind: str, data: dict[str, Any] | None = None
    ) -> EventRecord:
        """Append to the sandbox's history (`created`, `paused`, `resumed`, `killed`, …)."""
        row = SandboxEvent(
            sandbox_id=sandbox_id, team_id=team_id, kind=kind, at=utcnow(), data=dict(data or {})
        )
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            return event_record(row)

    async def events(self, sandbox_id: str, team_id: str, limit: int = 100) -> list[EventRecord]:
        """The sandbox's last `limit` events, oldest first."""
        query = (
            select(SandboxEvent)
            .where(SandboxEvent.sandbox_id == sandbox_id, SandboxEvent.team_id == team_id)
            .order_by(SandboxEvent.id.desc())
            .limit(limit)
        )
        async with self._db.session(write=False) as session:
            rows = list(await session.scalars(query))
        return [event_record(row) for row in reversed(rows)]
