"""Teams, users, API keys and access tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, update

from corral.api.db.database import Database
from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.models import AccessToken, ApiKey
from corral.api.db.store import Store


async def test_create_and_get_team(store: Store) -> None:
    team = await store.create_team("acme")
    assert re.fullmatch(r"[0-9a-f-]{36}", team.id)
    assert team.name == "acme"
    assert team.created_at.tzinfo == UTC
    assert (team.max_concurrent_sandboxes, team.max_vcpu, team.max_memory_mb) == (20, 8, 8192)
    assert (team.max_disk_mb, team.max_lifetime_s) == (20480, 86400)
    assert (team.rate_limit_per_s, team.rate_limit_burst) == (20.0, 40)
    assert await store.get_team(team.id) == team
    assert await store.get_team("missing") is None


async def test_team_limits_and_explicit_id(store: Store) -> None:
    team = await store.create_team(
        "small", team_id="t-1", max_concurrent_sandboxes=2, max_vcpu=1, rate_limit_per_s=0.5
    )
    got = await store.get_team("t-1")
    assert got == team
    assert (got.max_concurrent_sandboxes, got.max_vcpu, got.rate_limit_per_s) == (2, 1, 0.5)
    with pytest.raises(AlreadyExists):
        await store.create_team("again", team_id="t-1")


async def test_list_teams_oldest_first(store: Store) -> None:
    a = await store.create_team("a")
    b = await store.create_team("b")
    assert [t.id for t in await store.list_teams()] == [a.id, b.id]


async def test_users_and_their_teams(store: Store) -> None:
    first = await store.create_team("first")
    second = await store.create_team("second")
    user = await store.create_user("ada@example.com", first.id)
    assert await store.get_user(user.id) == user
    assert await store.user_by_email("ada@example.com") == user
    assert await store.user_by_email("nobody@example.com") is None
    assert [t.id for t in await store.teams_of_user(user.id)] == [first.id]

    await store.add_team_member(user.id, second.id)
    assert [t.id for t in await store.teams_of_user(user.id)] == [first.id, second.id]
    await store.add_team_member(user.id, second.id, is_default=True)
    assert [t.id for t in await store.teams_of_user(user.id)] == [second.id, first.id]

    loner = await store.create_user("loner@example.com")
    assert await store.teams_of_user(loner.id) == []
    await store.add_team_member(loner.id, second.id)  # a first team is the default
    assert [t.id for t in await store.teams_of_user(loner.id)] == [second.id]


async def test_user_errors(store: Store) -> None:
    team = await store.create_team("t")
    user = await store.create_user("a@example.com", team.id)
    with pytest.raises(AlreadyExists):
        await store.create_user("a@example.com", team.id)
    with pytest.raises(ReferenceNotFound):
        await store.create_user("b@example.com", "missing")
    assert await store.user_by_email("b@example.com") is None
    with pytest.raises(ReferenceNotFound):
        await store.add_team_member(user.id, "missing")
    with pytest.raises(ReferenceNotFound):
        await store.add_team_member("missing", team.id)


async def test_api_key_is_stored_hashed(store: Store, database: Database) -> None:
    team = await store.create_team("t")
    record, raw = await store.create_api_key(team.id, "ci")
    assert re.fullmatch(r"e2b_[0-9a-f]{40}", raw)
    assert record.key_mask == f"e2b_{raw[4:8]}…{raw[-4:]}"
    assert (record.team_id, record.name, record.last_used_at) == (team.id, "ci", None)
    async with database.session(write=False) as session:
        row = await session.get(ApiKey, record.id)
        assert row is not None
        assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert raw not in (row.key_mask, row.key_hash, row.name)
    with pytest.raises(ReferenceNotFound):
        await store.create_api_key("missing", "x")


async def test_team_for_api_key(store: Store) -> None:
    team = await store.create_team("t")
    _, raw = await store.create_api_key(team.id, "k")
    assert await store.team_for_api_key(raw) == team
    assert await store.team_for_api_key(raw[:-1] + ("0" if raw[-1] != "0" else "1")) is None
    assert await store.team_for_api_key("sk_e2b_" + raw[4:]) is None
    assert await store.team_for_api_key("") is None


async def test_last_used_is_written_at_most_once_a_minute(store: Store, database: Database) -> None:
    team = await store.create_team("t")
    key, raw = await store.create_api_key(team.id, "k")
    await store.team_for_api_key(raw)
    [used] = await store.list_api_keys(team.id)
    assert used.last_used_at is not None and used.last_used_at >= key.created_at
    await store.team_for_api_key(raw)
    [again] = await store.list_api_keys(team.id)
    assert again.last_used_at == used.last_used_at

    # A minute later (in the database; and another process, with its own memory): written.
    async with database.session() as session:
        await session.execute(
            update(ApiKey).values(last_used_at=used.last_used_at - timedelta(minutes=2))
        )
    await Store(database).team_for_api_key(raw)
    [later] = await store.list_api_keys(team.id)
    assert later.last_used_at is not None and later.last_used_at >= used.last_used_at


async def test_list_rename_delete_api_keys_of_a_team_only(store: Store) -> None:
    mine = await store.create_team("mine")
    theirs = await store.create_team("theirs")
    a, raw_a = await store.create_api_key(mine.id, "a")
    b, _ = await store.create_api_key(mine.id, "b")
    other, raw_other = await store.create_api_key(theirs.id, "other")
    assert [k.id for k in await store.list_api_keys(mine.id)] == [a.id, b.id]

    assert await store.rename_api_key(mine.id, a.id, "renamed")
    assert not await store.rename_api_key(mine.id, other.id, "stolen")
    assert not await store.rename_api_key(mine.id, "missing", "x")
    assert [k.name for k in await store.list_api_keys(mine.id)] == ["renamed", "b"]
    assert [k.name for k in await store.list_api_keys(theirs.id)] == ["other"]

    assert not await store.delete_api_key(mine.id, other.id)
    assert await store.team_for_api_key(raw_other) == theirs
    assert await store.delete_api_key(mine.id, a.id)
    assert not await store.delete_api_key(mine.id, a.id)
    assert await store.team_for_api_key(raw_a) is None
    assert [k.id for k in await store.list_api_keys(mine.id)] == [b.id]


async def test_access_tokens(store: Store, database: Database) -> None:
    team = await store.create_team("t")
    user = await store.create_user("a@example.com", team.id)
    other = await store.create_user("b@example.com", team.id)
    record, raw = await store.create_access_token(user.id, "laptop")
    assert re.fullmatch(r"sk_e2b_[0-9a-f]{40}", raw)
    assert record.token_mask == f"sk_e2b_{raw[7:11]}…{raw[-4:]}"
    assert (record.user_id, record.name) == (user.id, "laptop")
    async with database.session(write=False) as session:
        stored = await session.scalar(select(AccessToken.token_hash))
    assert stored == hashlib.sha256(raw.encode()).hexdigest()

    assert await store.user_for_access_token(raw) == user
    assert await store.user_for_access_token(raw[:-1] + "x") is None
    assert await store.user_for_access_token("e2b_" + raw[7:]) is None
    assert [t.id for t in await store.list_access_tokens(user.id)] == [record.id]
    assert await store.list_access_tokens(other.id) == []
    assert not await store.delete_access_token(other.id, record.id)
    assert await store.delete_access_token(user.id, record.id)
    assert await store.user_for_access_token(raw) is None
    with pytest.raises(ReferenceNotFound):
        await store.create_access_token("missing", "x")
