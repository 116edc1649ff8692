"""What every part of the store shares: the database, the clock, ids and secret hashing."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.database import Database

_ID_ALPHABET = string.ascii_lowercase + string.digits


class StorePart:
    """Base of the store's parts; `Store` combines them over one `Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def _serialize(self, session: AsyncSession, topic: str) -> None:
        """Let one transaction at a time, cluster-wide, past this point for `topic`.

        Check-then-insert (is this alias free?) is only safe when no one else is between the
        check and the commit. SQLite's write transactions already run one at a time; on
        PostgreSQL a transaction-scoped advisory lock does it.
        """
        if self._db.dialect == "postgresql":
            await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(topic))))


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_template_id() -> str:
    """E2B's shape for template (and snapshot) ids: 20 lowercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def sha256(raw: str) -> str:
    """The stored form of a key or token.

    Looking a key up by the hash of what the client sent means the database compares hashes,
    never the secret: timing reveals nothing about a valid key. The keys are 160 random bits,
    so a plain hash is enough (no salt or slow hash needed against guessing).
    """
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(prefix: str) -> tuple[str, str]:
    """A fresh `prefix` + 40 hex characters, and its display mask `prefix` + `ab12…cd34`."""
    value = secrets.token_hex(20)
    return prefix + value, f"{prefix}{value[:4]}…{value[-4:]}"


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (`session.execute` types its result too loosely)."""
    return cast(CursorResult[Any], result).rowcount
