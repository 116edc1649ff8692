"""Teams (the unit of quota and ownership), users and which teams they belong to."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select, update

from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.models import Team, TeamMember, User
from corral.api.db.records import TeamRecord, UserRecord
from corral.api.db.store._base import StorePart, utcnow


def team_record(row: Team) -> TeamRecord:
    return TeamRecord(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        max_concurrent_sandboxes=row.max_concurrent_sandboxes,
        max_vcpu=row.max_vcpu,
        max_memory_mb=row.max_memory_mb,
        max_disk_mb=row.max_disk_mb,
        max_lifetime_s=row.max_lifetime_s,
        rate_limit_per_s=row.rate_limit_per_s,
        rate_limit_burst=row.rate_limit_burst,
    )


def user_record(row: User) -> UserRecord:
    return UserRecord(id=row.id, email=row.email, created_at=row.created_at)


class Teams(StorePart):
    async def create_team(
        self,
        name: str,
        *,
        team_id: str | None = None,
        max_concurrent_sandboxes: int = 20,
        max_vcpu: int = 8,
        max_memory_mb: int = 8192,
        max_disk_mb: int = 20480,
        max_lifetime_s: int = 86400,
        rate_limit_per_s: float = 20.0,
        rate_limit_burst: int = 40,
    ) -> TeamRecord:
        """A new team with these limits; `team_id` defaults to a fresh uuid4."""
        row = Team(
            id=team_id or str(uuid.uuid4()),
            name=name,
            created_at=utcnow(),
            max_concurrent_sandboxes=max_concurrent_sandboxes,
            max_vcpu=max_vcpu,
            max_memory_mb=max_memory_mb,
            max_disk_mb=max_disk_mb,
            max_lifetime_s=max_lifetime_s,
            rate_limit_per_s=rate_limit_per_s,
            rate_limit_burst=rate_limit_burst,
        )
        async with self._db.session() as session:
            await self._serialize(session, f"corral.team:{row.id}")
            if await session.get(Team, row.id) is not None:
                raise AlreadyExists(f"team {row.id} already exists")
            session.add(row)
        return team_record(row)

    async def get_team(self, team_id: str) -> TeamRecord | None:
        async with self._db.session(write=False) as session:
            row = await session.get(Team, team_id)
            return None if row is None else team_record(row)

    async def list_teams(self) -> list[TeamRecord]:
        """Every team, oldest first."""
        async with self._db.session(write=False) as session:
            rows = await session.scalars(select(Team).order_by(Team.created_at, Team.id))
            return [team_record(row) for row in rows]

    async def teams_of_user(self, user_id: str) -> list[TeamRecord]:
        """The user's teams, the default one first."""
        query = (
            select(Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id)
            .order_by(TeamMember.is_default.desc(), TeamMember.created_at, Team.id)
        )
        async with self._db.session(write=False) as session:
            return [team_record(row) for row in await session.scalars(query)]

    async def create_user(self, email: str, team_id: str | None = None) -> UserRecord:
        """A new user, member of `team_id` (then their default team) when given."""
        now = utcnow()
        row = User(id=str(uuid.uuid4()), email=email, created_at=now)
        async with self._db.session() as session:
            await self._serialize(session, f"corral.user-email:{email}")
            if await session.scalar(select(exists().where(User.email == email))):
                raise AlreadyExists(f"a user with email {email!r} already exists")
            if team_id is not None and await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            session.add(row)
            if team_id is not None:
                await session.flush()
                session.add(
                    TeamMember(user_id=row.id, team_id=team_id, is_default=True, created_at=now)
                )
        return user_record(row)

    async def get_user(self, user_id: str) -> UserRecord | None:
        async with self._db.session(write=False) as session:
            row = await session.get(User, user_id)
            return None if row is None else user_record(row)

    async def user_by_email(self, email: str) -> UserRecord | None:
        async with self._db.session(write=False) as session:
            row = await session.scalar(select(User).where(User.email == email))
            return None if row is None else user_record(row)

    async def add_team_member(
        self, user_id: str, team_id: str, *, is_default: bool = False
    ) -> None:
        """Make the user a member of the team (again: updates `is_default`).

        A user's first team is their default whatever `is_default` says; making another one the
        default clears the flag on the rest, so there is exactly one.
        """
        async with self._db.session() as session:
            if await session.get(User, user_id) is None:
                raise ReferenceNotFound(f"user {user_id} not found")
            if await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            others = select(exists().where(TeamMember.user_id == user_id))
            is_default = is_default or not await session.scalar(others)
            if is_default:
                await session.execute(
                    update(TeamMember).where(TeamMember.user_id == user_id).values(is_default=False)
                )
            member = await session.get(TeamMember, (user_id, team_id))
            if member is None:
                session.add(
                    TeamMember(
                        user_id=user_id,
                        team_id=team_id,
                        is_default=is_default,
                        created_at=utcnow(),
                    )
                )
            elif is_default:
                member.is_default = True
