"""A migrated database and its `Store`, once per test and per kind of database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from corral.api.db.database import Database
from corral.api.db.store import Store


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def store(database: Database) -> Store:
    return Store(database)
