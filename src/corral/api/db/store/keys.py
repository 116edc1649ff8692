"""Team API keys (`X-API-KEY`) and users' access tokens: random secrets, kept only as sha256.

The raw value is returned once, at creation. A lookup hashes what the client sent and finds
that hash (see `_base.sha256` for why that is safe against timing).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from corral.api.db.database import Database
from corral.api.db.errors import ReferenceNotFound
from corral.api.db.models import AccessToken, ApiKey, Team, User
from corral.api.db.records import AccessTokenRecord, ApiKeyRecord, TeamRecord, UserRecord
from corral.api.db.store._base import StorePart, affected, new_secret, sha256, utcnow
from corral.api.db.store.teams import team_record, user_record

API_KEY_PREFIX = "e2b_"
ACCESS_TOKEN_PREFIX = "sk_e2b_"  # noqa: S105 - a prefix, not a secret
TOUCH_INTERVAL = timedelta(minutes=1)
"""`last_used_at` is this coarse: a write per authenticated request would serialize SQLite."""


def api_key_record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        key_mask=row.key_mask,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def access_token_record(row: AccessToken) -> AccessTokenRecord:
    return AccessTokenRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        token_mask=row.token_mask,
        created_at=row.created_at,
    )


class Keys(StorePart):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._touched: dict[str, float] = {}
        """When this process last wrote each key's `last_used_at` (monotonic seconds)."""

    async def create_api_key(self, team_id: str, name: str) -> tuple[ApiKeyRecord, str]:
        """A new key for the team, and the raw key: the only time it can be read."""
        raw, mask = new_secret(API_KEY_PREFIX)
        row = ApiKey(
            id=str(uuid.uuid4()),
            team_id=team_id,
            name=name,
            key_hash=sha256(raw),
            key_mask=mask,
            created_at=utcnow(),
            last_used_at=None,
        )
        async with self._db.session() as session:
            if await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            session.add(row)
        return api_key_record(row), raw

    async def team_for_api_key(self, raw: str) -> TeamRecord | None:
        """The team the key belongs to, or None for an unknown (or deleted) key.

        Marks the key used, at most once a minute per key: checked here in memory first, then
        in the UPDATE's condition (other processes).
        """
        if not raw.startswith(API_KEY_PREFIX):
            return None
        query = (
            select(ApiKey.id, ApiKey.last_used_at, Team)
            .join(Team, Team.id == ApiKey.team_id)
            .where(ApiKey.key_hash == sha256(raw))
        )
        async with self._db.session(write=False) as session:
            found = (await session.execute(query)).one_or_none()
            if found is None:
                return None
            key_id, last_used_at, team = found
            record = team_record(team)
        now = utcnow()
        if (last_used_at is None or now - last_used_at >= TOUCH_INTERVAL) and self._claim_touch(
            key_id
        ):
            stale = or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_INTERVAL)
            async with self._db.session() as session:
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now)
                )
        return record

    def _claim_touch(self, key_id: str) -> bool:
        """True for the one caller in this process that should write `last_used_at` now."""
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_INTERVAL.total_seconds():
            return False
        self._touched[key_id] = now
        return True

    async def list_api_keys(self, team_id: str) -> list[ApiKeyRecord]:
        """The team's keys, oldest first (masks only)."""
        query = select(ApiKey).where(ApiKey.team_id == team_id).order_by(ApiKey.created_at)
        async with self._db.session(write=False) as session:
            return [api_key_record(row) for row in await session.scalars(query)]

    async def rename_api_key(self, team_id: str, key_id: str, name: str) -> bool:
        """False when the team has no such key."""
        async with self._db.session() as session:
            result = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.team_id == team_id)
                .values(name=name)
            )
            return affected(result) > 0

    async def delete_api_key(self, team_id: str, key_id: str) -> bool:
        """False when the team has no such key (another team's key is not touched)."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(ApiKey).where(ApiKey.id == key_id, ApiKey.team_id == team_id)
            )
            return affected(result) > 0

    async def create_access_token(self, user_id: str, name: str) -> tuple[AccessTokenRecord, str]:
        """A new personal token for the user, and the raw token (shown once)."""
        raw, mask = new_secret(ACCESS_TOKEN_PREFIX)
        row = AccessToken(
            id=str(uuid.uuid4()),
            user_id=user_id,
            name=name,
            token_hash=sha256(raw),
            token_mask=mask,
            created_at=utcnow(),
        )
        async with self._db.session() as session:
            if await session.get(User, user_id) is None:
                raise ReferenceNotFound(f"user {user_id} not found")
            session.add(row)
        return access_token_record(row), raw

    async def user_for_access_token(self, raw: str) -> UserRecord | None:
        if not raw.startswith(ACCESS_TOKEN_PREFIX):
            return None
        query = (
            select(User)
            .join(AccessToken, AccessToken.user_id == User.id)
            .where(AccessToken.token_hash == sha256(raw))
        )
        async with self._db.session(write=False) as session:
            row = await session.scalar(query)
            return None if row is None else user_record(row)

    async def list_access_tokens(self, user_id: str) -> list[AccessTokenRecord]:
        query = (
            select(AccessToken)
            .where(AccessToken.user_id == user_id)
            .order_by(AccessToken.created_at)
        )
        async with self._db.session(write=False) as session:
            return [access_token_record(row) for row in await session.scalars(query)]

    async def delete_access_token(self, user_id: str, token_id: str) -> bool:
        async with self._db.session() as session:
            result = await session.execute(
                delete(AccessToken).where(
                    AccessToken.id == token_id, AccessToken.user_id == user_id
                )
            )
            return affected(result) > 0
