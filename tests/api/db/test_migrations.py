"""Migrations against the models, on both databases: the schema they build is the models'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from corral.api.db.database import Database
from corral.api.db.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrated_schema_matches_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        await database.upgrade()
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await database.dispose()


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    database = Database(database_url)
    try:
        assert await database.current() is None
        await database.upgrade()
        assert await database.current() == "0002"
        await database.upgrade()  # already at head: nothing to do
        async with database.engine.connect() as connection:
            assert set(Base.metadata.tables) <= await connection.run_sync(_tables)
        await database.downgrade()
        assert await database.current() is None
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        await database.upgrade()
        assert await database.current() == "0002"
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
        await database.downgrade("0001")
        async with database.engine.connect() as connection:
            assert "env_tags" not in await connection.run_sync(_tables)
    finally:
        await database.dispose()


async def test_0002_tags_each_template_default_on_its_latest_ready_build(
    database_url: str,
) -> None:
    database = Database(database_url)
    try:
        await database.upgrade("0001")
        early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
        naive = database.dialect == "sqlite"  # what models.UTCDateTime stores there
        if naive:
            early, late = early.replace(tzinfo=None), late.replace(tzinfo=None)
        builds = [
            ("old", "t1", "ready", early),
            ("new", "t1", "ready", late),
            ("failed", "t1", "error", late + (late - early)),
            ("waiting", "t2", "waiting", late),
        ]
        async with database.engine.begin() as connection:
            for env in ("t1", "t2"):
                await connection.execute(
                    text(
                        "INSERT INTO envs (id, team_id, public, created_at, updated_at,"
                        " spawn_count) VALUES (:id, NULL, true, :at, :at, 0)"
                    ),
                    {"id": env, "at": early},
                )
            for build_id, env, status, at in builds:
                await connection.execute(
                    text(
                        "INSERT INTO env_builds (id, env_id, status, created_at, vcpu,"
                        " memory_mb, disk_mb) VALUES (:id, :env, :status, :at, 1, 128, 512)"
                    ),
                    {"id": build_id, "env": env, "status": status, "at": at},
                )
        await database.upgrade()
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("SELECT env_id, tag, build_id FROM env_tags"))
            assert [tuple(row) for row in rows] == [("t1", "default", "new")]
    finally:
        await database.dispose()
