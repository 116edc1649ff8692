"""Nodes (upserted by heartbeat) and the sandbox event history."""

from __future__ import annotations

from datetime import UTC

from corral.api.db.store import Store


async def test_upsert_and_list_nodes(store: Store) -> None:
    assert await store.list_nodes() == []
    first = await store.upsert_node("node-b", "10.0.0.2:5008")
    assert (first.id, first.address, first.status) == ("node-b", "10.0.0.2:5008", "ready")
    assert first.created_at == first.last_seen_at and first.created_at.tzinfo == UTC
    await store.upsert_node("node-a", "10.0.0.1:5008")
    moved = await store.upsert_node("node-b", "10.0.0.3:5008", status="draining")
    assert (moved.address, moved.status, moved.created_at) == (
        "10.0.0.3:5008",
        "draining",
        first.created_at,
    )
    assert moved.last_seen_at >= first.last_seen_at
    assert [n.id for n in await store.list_nodes()] == ["node-a", "node-b"]
    assert (await store.list_nodes())[1] == moved


async def test_events(store: Store) -> None:
    created = await store.record_event("sbx1", "team1", "created", {"node": "a"})
    assert (created.sandbox_id, created.team_id, created.kind, created.data) == (
        "sbx1",
        "team1",
        "created",
        {"node": "a"},
    )
    await store.record_event("sbx2", "team1", "created")
    await store.record_event("sbx1", "team1", "paused")
    killed = await store.record_event("sbx1", "team1", "killed")
    assert killed.id > created.id and killed.data == {}
    assert [e.kind for e in await store.events("sbx1", "team1")] == ["created", "paused", "killed"]
    assert [e.kind for e in await store.events("sbx1", "team1", limit=2)] == ["paused", "killed"]
    assert await store.events("sbx1", "team2") == []
