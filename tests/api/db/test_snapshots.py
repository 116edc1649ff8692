"""Snapshots of paused sandboxes, scoped to their team."""

from __future__ import annotations

import pytest

from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.store import Store


async def test_put_get_and_scope(store: Store) -> None:
    team = await store.create_team("t")
    other = await store.create_team("o")
    snap = await store.put_snapshot(
        sandbox_id="sbx1",
        team_id=team.id,
        base_env_id="base-v1",
        node_id="node-a",
        metadata={"k": "v"},
        memory=False,
        names=["nightly"],
        config={"vcpu": 2, "envd_version": "0.6.5"},
    )
    assert len(snap.id) == 20
    assert (snap.sandbox_id, snap.team_id, snap.base_env_id, snap.env_id) == (
        "sbx1",
        team.id,
        "base-v1",
        None,
    )
    assert (snap.node_id, snap.metadata, snap.memory, snap.names) == (
        "node-a",
        {"k": "v"},
        False,
        ("nightly",),
    )
    assert snap.config == {"vcpu": 2, "envd_version": "0.6.5"}
    assert await store.get_snapshot(team.id, snap.id) == snap
    assert await store.get_snapshot(other.id, snap.id) is None
    assert await store.snapshot_for_sandbox(team.id, "sbx1") == snap
    assert await store.snapshot_for_sandbox(other.id, "sbx1") is None
    assert await store.snapshot_for_sandbox(team.id, "sbx2") is None
    with pytest.raises(ReferenceNotFound):
        await store.put_snapshot(sandbox_id="s", team_id="missing", base_env_id="b", node_id="n")
    with pytest.raises(AlreadyExists):
        await store.put_snapshot(
            snapshot_id=snap.id, sandbox_id="s", team_id=other.id, base_env_id="b", node_id="n"
        )


async def test_replace_and_latest(store: Store) -> None:
    team = await store.create_team("t")
    first = await store.put_snapshot(
        snapshot_id="p-sbx1", sandbox_id="sbx1", team_id=team.id, base_env_id="b", node_id="a"
    )
    named = await store.put_snapshot(
        sandbox_id="sbx1", team_id=team.id, base_env_id="b", node_id="a", env_id="tpl1"
    )
    assert await store.snapshot_for_sandbox(team.id, "sbx1") == named
    again = await store.put_snapshot(
        snapshot_id="p-sbx1", sandbox_id="sbx1", team_id=team.id, base_env_id="b", node_id="b"
    )
    assert (again.id, again.node_id) == ("p-sbx1", "b")
    assert again.created_at >= first.created_at
    assert await store.snapshot_for_sandbox(team.id, "sbx1") == again
    assert await store.get_snapshot(team.id, "p-sbx1") == again


async def test_list_and_delete(store: Store) -> None:
    team = await store.create_team("t")
    other = await store.create_team("o")
    made = [
        await store.put_snapshot(
            sandbox_id=f"sbx{i % 2}",
            team_id=team.id,
            base_env_id="b",
            node_id="n",
            names=["even"] if i % 2 == 0 else [],
        )
        for i in range(5)
    ]
    await store.put_snapshot(sandbox_id="sbx0", team_id=other.id, base_env_id="b", node_id="n")
    newest_first = [s.id for s in reversed(made)]
    assert [s.id for s in await store.list_snapshots(team.id)] == newest_first
    assert [s.id for s in await store.list_snapshots(team.id, limit=2)] == newest_first[:2]
    assert [s.id for s in await store.list_snapshots(team.id, limit=2, offset=3)] == newest_first[
        3:
    ]
    assert [s.id for s in await store.list_snapshots(team.id, "sbx1")] == [made[3].id, made[1].id]
    assert [s.id for s in await store.list_snapshots(team.id, name="even")] == [
        made[4].id,
        made[2].id,
        made[0].id,
    ]
    assert [s.id for s in await store.list_snapshots(team.id, name="even", offset=1, limit=1)] == [
        made[2].id
    ]
    assert not await store.delete_snapshot(other.id, made[0].id)
    assert await store.delete_snapshot(team.id, made[0].id)
    assert not await store.delete_snapshot(team.id, made[0].id)
    assert await store.get_snapshot(team.id, made[0].id) is None
    assert len(await store.list_snapshots(team.id)) == 4
