"""Alembic's entry point, for both ways migrations run.

- From `Database.upgrade()`: the caller passes its open connection in
  `config.attributes["connection"]` (a sync facade over the asyncio engine, via `run_sync`).
- From the `alembic` command line (alembic.ini at the repository root): the URL comes from
  `-x url=…`, else from the API's settings (`CORRAL_API_DATABASE_URL`, else SQLite in the
  data directory); `--sql` renders the migration as SQL instead.

SQLite gets batch mode, so that future migrations that alter columns work there too.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from corral.api.db.database import WRITE_OPTION, Database, async_url
from corral.api.db.models import Base

config = context.config
target_metadata = Base.metadata
if config.config_file_name is not None:  # the command line; the API keeps its own logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def command_line_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        from corral.api.settings import ApiSettings

        url = ApiSettings().database
    return async_url(url)


def run_offline() -> None:
    url = command_line_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    database = Database(command_line_url())
    try:
        async with database.engine.execution_options(**WRITE_OPTION).begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await database.dispose()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_on(given)
else:
    asyncio.run(run_online())
