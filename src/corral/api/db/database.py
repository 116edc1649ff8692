"""The connection to SQLite (embedded, `corral up`) or PostgreSQL (clusters), and migrations.

SQLite needs care to be safe under concurrent requests:

- WAL lets readers run while one writer writes; `busy_timeout` makes a writer wait for the
  lock instead of failing at once; foreign keys are off unless turned on per connection.
- Python's sqlite3 starts transactions late and implicitly. SQLAlchemy's recipe takes that
  over (`isolation_level = None` plus our own BEGIN), and write sessions begin with
  `BEGIN IMMEDIATE`: they take the write lock up front, where `busy_timeout` applies. A
  deferred transaction that reads and then writes would instead fail with "database is
  locked" when another writer committed in between, because SQLite cannot wait there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = {"corral_write": True}
"""Execution option of write transactions: `BEGIN IMMEDIATE` on SQLite."""
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_PG_MIGRATION_LOCK = 0x636F7272616C  # "corral": one process migrates at a time


def async_url(url: str) -> str:
    """`url` with the asyncio driver this module supports (`sqlite://` → `sqlite+aiosqlite://`)."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    elif parsed.drivername not in _DRIVERS.values():
        raise ValueError(f"unsupported database {parsed.drivername!r}: use SQLite or PostgreSQL")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One engine per process; sessions are short transactions taken from its pool."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            options["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            _prepare_sqlite(self.engine)
        self._writer = async_sessionmaker(
            self.engine.execution_options(**WRITE_OPTION), expire_on_commit=False
        )
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises.

        `write=False` is for blocks that only read: on SQLite they do not queue for the write
        lock. (A read-only block that writes anyway may fail with "database is locked".)
        """
        maker = self._writer if write else self._reader
        async with maker() as session, session.begin():
            yield session

    async def upgrade(self, revision: str = "head") -> None:
        """Migrate the schema to `revision`; safe to call from several processes at once."""
        await self._migrate(command.upgrade, revision)

    async def downgrade(self, revision: str = "base") -> None:
        """Undo migrations down to `revision` (`base`: drop everything). For tests and operators."""
        await self._migrate(command.downgrade, revision)

    async def current(self) -> str | None:
        """The revision the database is at, or None before the first migration."""
        from alembic.runtime.migration import MigrationContext

        def read(connection: Connection) -> str | None:
            return MigrationContext.configure(connection).get_current_revision()

        async with self.engine.connect() as connection:
            return await connection.run_sync(read)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def _migrate(self, action: Any, revision: str) -> None:
        config = alembic_config()

        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            action(config, revision)

        await self._change_schema(run)

    async def _change_schema(self, change: Callable[[Connection], None]) -> None:
        """Run `change` in one transaction, alone: concurrent starts migrate one at a time.

        PostgreSQL: an advisory lock serializes the processes. SQLite: the write lock does
        (`BEGIN IMMEDIATE`), and foreign keys are off meanwhile, as SQLite's procedure for
        schema changes asks (sqlite.org/lang_altertable.html): with them on, recreating a
        table (Alembic's batch mode) would cascade-delete every row referring to it.
        `PRAGMA foreign_key_check` must then find nothing, or the change is rolled back.
        """

        def run(connection: Connection) -> None:
            sqlite = self.dialect == "sqlite"
            if sqlite:
                _pragma(connection, "foreign_keys=OFF")
            try:
                with connection.begin():
                    if not sqlite:
                        lock = f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"
                        connection.exec_driver_sql(lock)
                    change(connection)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"schema change breaks foreign keys: {broken}")
            finally:
                if sqlite:
                    _pragma(connection, "foreign_keys=ON")

        async with self.engine.execution_options(**WRITE_OPTION).connect() as connection:
            await connection.run_sync(run)


def alembic_config() -> Config:
    """Alembic's configuration without an alembic.ini: the scripts ship inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return config


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); the driver must not start transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The timeout first: switching to WAL takes a lock another process may hold.
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("corral_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _pragma(connection: Connection, pragma: str) -> None:
    """A PRAGMA on the driver's connection, outside any transaction (where some are no-ops)."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()
