"""The engine's setup: URLs, SQLite's pragmas and locking, transactions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text, update
from sqlalchemy.exc import IntegrityError

from corral.api.db.database import MIGRATIONS, Database, async_url
from corral.api.db.models import ApiKey, Team
from corral.api.db.store import Store


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////tmp/c.db", "sqlite+aiosqlite:////tmp/c.db"),
        ("sqlite+aiosqlite:///c.db", "sqlite+aiosqlite:///c.db"),
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://h/d", "postgresql+psycopg2://h/d"])
def test_other_databases_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        async_url(url)


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))


async def test_sqlite_pragmas_and_parent_directory(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'new' / 'dir' / 'corral.db'}")
    try:
        async with database.session(write=False) as session:
            pragmas = {
                name: (await session.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}
    finally:
        await database.dispose()


async def test_session_rolls_back_on_error(database: Database) -> None:
    store = Store(database)
    team = await store.create_team("t")
    with pytest.raises(RuntimeError):
        async with database.session() as session:
            row = await session.get(Team, team.id)
            assert row is not None
            row.name = "changed"
            await session.flush()
            raise RuntimeError("abort")
    got = await store.get_team(team.id)
    assert got is not None and got.name == "t"


async def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with database.session() as session:
            session.add(Team(id="x", name="x", created_at=datetime(2025, 1, 1)))


async def test_concurrent_sqlite_requests_do_not_lock(tmp_path: Path) -> None:
    """Key lookups that write `last_used_at` and key creations, from two processes' engines."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    one, two = Database(url), Database(url)
    try:
        await one.upgrade()
        stores = [Store(one), Store(two)]
        team = await stores[0].create_team("t")
        raws = [(await stores[0].create_api_key(team.id, f"k{i}"))[1] for i in range(20)]
        for _ in range(3):
            # Each round, every lookup writes `last_used_at` (as if a minute had passed).
            async with one.session() as session:
                await session.execute(update(ApiKey).values(last_used_at=None))
            for store in stores:
                store._touched.clear()
            lookups = [stores[i % 2].team_for_api_key(raw) for i, raw in enumerate(raws)]
            creates = [stores[i % 2].create_api_key(team.id, f"new{i}") for i in range(20)]
            results = await asyncio.gather(*lookups, *creates)
            assert results[:20] == [team] * 20
        assert len(await stores[1].list_api_keys(team.id)) == 80
        assert all(
            k.last_used_at is not None for k in (await stores[1].list_api_keys(team.id))[:20]
        )
    finally:
        await one.dispose()
        await two.dispose()


async def _sqlite(tmp_path: Path) -> tuple[Database, Store]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}")
    await database.upgrade()
    return database, Store(database)


async def _foreign_keys_enforced(database: Database) -> bool:
    try:
        async with database.session() as session:
            session.add(
                ApiKey(
                    id="k",
                    team_id="missing",
                    name="k",
                    key_hash="h",
                    key_mask="m",
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        return True
    return False


async def test_sqlite_schema_changes_do_not_cascade(tmp_path: Path) -> None:
    """Recreating a referenced table, as Alembic's batch mode does, keeps what refers to it."""
    database, store = await _sqlite(tmp_path)
    try:
        assert await _foreign_keys_enforced(database)
        team = await store.create_team("t")
        _, raw = await store.create_api_key(team.id, "k")

        def recreate_teams(connection: Connection) -> None:
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'teams'"
            ).scalar_one()
            connection.exec_driver_sql(sql.replace("CREATE TABLE teams", "CREATE TABLE _new", 1))
            connection.exec_driver_sql("INSERT INTO _new SELECT * FROM teams")
            connection.exec_driver_sql("DROP TABLE teams")
            connection.exec_driver_sql("ALTER TABLE _new RENAME TO teams")

        await database._change_schema(recreate_teams)
        assert await store.team_for_api_key(raw) == team
        assert await _foreign_keys_enforced(database)
    finally:
        await database.dispose()


async def test_sqlite_schema_change_that_orphans_rows_is_undone(tmp_path: Path) -> None:
    database, store = await _sqlite(tmp_path)
    try:
        team = await store.create_team("t")
        _, raw = await store.create_api_key(team.id, "k")

        def orphan(connection: Connection) -> None:
            connection.exec_driver_sql("DELETE FROM teams")

        with pytest.raises(RuntimeError, match="breaks foreign keys"):
            await database._change_schema(orphan)
        assert await store.team_for_api_key(raw) == team
        assert await _foreign_keys_enforced(database)
    finally:
        await database.dispose()
