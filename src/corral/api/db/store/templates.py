"""Templates (E2B's envs), their aliases, and how a sandbox request's `templateID` finds one.

Visibility: a team sees its own templates and every public one. Platform templates (team
None, such as the defaults `corral up` registers) are seen by all only when public.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.errors import AlreadyExists, ReferenceNotFound
from corral.api.db.models import Env, EnvAlias, EnvBuild, Team
from corral.api.db.records import BuildStatus, TemplateRecord
from corral.api.db.store._base import StorePart, affected, new_template_id, utcnow
from corral.api.db.store.builds import current_builds
from corral.api.db.store.names import DEFAULT_TAG, check_name, parse_ref, set_aliases, visible
from corral.api.db.store.tags import assign, tagged_build

NAMES = "corral.template-names"
"""Lock topic of writes that check template ids and aliases are free, then take them."""


class Templates(StorePart):
    async def register_template(
        self,
        template_id: str,
        *,
        team_id: str | None,
        public: bool,
        aliases: Sequence[str],
        vcpu: int,
        memory_mb: int,
        disk_mb: int,
        envd_version: str,
        rootfs: str,
        start_cmd: str | None = None,
        ready_cmd: str | None = None,
    ) -> TemplateRecord:
        """Create or update a template whose artifact is already built, with a ready build.

        Idempotent, for registering the default templates at every start: a new build is
        recorded only when these values differ from the latest ready build. `aliases` is the
        complete set (others of this template are removed); an alias held by another template
        raises `AlreadyExists`.
        """
        check_name(template_id)
        now = utcnow()
        wanted: dict[str, Any] = {
            "vcpu": vcpu,
            "memory_mb": memory_mb,
            "disk_mb": disk_mb,
            "envd_version": envd_version,
            "rootfs": rootfs,
            "start_cmd": start_cmd,
            "ready_cmd": ready_cmd,
        }
        async with self._db.session() as session:
            await self._serialize(session, NAMES)
            if team_id is not None and await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            env = await session.get(Env, template_id)
            if env is None:
                env = _new_env(template_id, team_id, public, now)
                session.add(env)
            elif (env.team_id, env.public) != (team_id, public):
                env.team_id, env.public, env.updated_at = team_id, public, now
            await session.flush()
            await set_aliases(session, template_id, aliases)
            build = (await current_builds(session, [template_id], ready_only=True)).get(template_id)
            if build is None or any(getattr(build, k) != v for k, v in wanted.items()):
                env.updated_at = now
                build_id = str(uuid.uuid4())
                session.add(
                    EnvBuild(
                        id=build_id,
                        env_id=template_id,
                        status="ready",
                        created_at=now,
                        finished_at=now,
                        spec=None,
                        reason=None,
                        **wanted,
                    )
                )
                await session.flush()
                await assign(session, template_id, build_id, [DEFAULT_TAG], now)
            return (await _records(session, [env], ready_only=True))[0]

    async def create_template(
        self,
        team_id: str,
        *,
        aliases: Sequence[str] = (),
        public: bool = False,
        template_id: str | None = None,
        vcpu: int = 2,
        memory_mb: int = 1024,
        disk_mb: int = 5120,
        start_cmd: str | None = None,
        ready_cmd: str | None = None,
        spec: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
    ) -> TemplateRecord:
        """A new team template with its first build, `waiting` (E2B's `POST /v3/templates`),
        which takes `tags` (none: `default`) when it is ready."""
        template_id = template_id or new_template_id()
        check_name(template_id)
        now = utcnow()
        async with self._db.session() as session:
            await self._serialize(session, NAMES)
            if await session.get(Team, team_id) is None:
                raise ReferenceNotFound(f"team {team_id} not found")
            if await session.get(Env, template_id) is not None:
                raise AlreadyExists(f"template {template_id} already exists")
            env = _new_env(template_id, team_id, public, now)
            session.add(env)
            await session.flush()
            await set_aliases(session, template_id, aliases)
            session.add(
                EnvBuild(
                    id=str(uuid.uuid4()),
                    env_id=template_id,
                    status="waiting",
                    created_at=now,
                    finished_at=None,
                    vcpu=vcpu,
                    memory_mb=memory_mb,
                    disk_mb=disk_mb,
                    envd_version=None,
                    start_cmd=start_cmd,
                    ready_cmd=ready_cmd,
                    spec=spec,
                    reason=None,
                    rootfs=None,
                    tags=list(tags) or None,
                )
            )
            await session.flush()
            return (await _records(session, [env]))[0]

    async def update_template(
        self,
        team_id: str,
        template_id: str,
        *,
        public: bool | None = None,
        aliases: Sequence[str] | None = None,
    ) -> bool:
        """Change a team's own template (`PATCH /templates/{id}`); False if it has none such."""
        async with self._db.session() as session:
            env = await session.get(Env, template_id)
            if env is None or env.team_id != team_id:
                return False
            if public is not None:
                env.public = public
            if aliases is not None:
                await self._serialize(session, NAMES)
                await set_aliases(session, template_id, aliases)
            env.updated_at = utcnow()
            return True

    async def resolve_template(self, team_id: str | None, ref: str) -> TemplateRecord | None:
        """The template a sandbox create names (see `parse_ref`), with the READY build its
        tag names (`tags.tagged_build`); None if unknown, invisible to the team, or the tag
        names no ready build."""
        parsed = parse_ref(ref)
        if parsed is None:
            return None
        name, tag = parsed
        async with self._db.session(write=False) as session:
            env = await session.scalar(select(Env).where(Env.id == name, visible(team_id)))
            if env is None:
                env = await session.scalar(
                    select(Env)
                    .join(EnvAlias, EnvAlias.env_id == Env.id)
                    .where(EnvAlias.alias == name, visible(team_id))
                )
            if env is None:
                return None
            build = await tagged_build(session, env.id, tag)
            if build is None:
                return None
            return (await _records(session, [env], builds={env.id: build}))[0]

    async def get_template(self, team_id: str | None, template_id: str) -> TemplateRecord | None:
        """A template by id, owned by the team or public, in whatever state its build is."""
        async with self._db.session(write=False) as session:
            env = await session.scalar(select(Env).where(Env.id == template_id, visible(team_id)))
            if env is None:
                return None
            found = await _records(session, [env])
            return found[0] if found else None

    async def list_templates(
        self, team_id: str | None, *, include_public: bool = True
    ) -> list[TemplateRecord]:
        """The team's templates and (unless `include_public=False`) the public ones, oldest
        first."""
        query = select(Env).where(visible(team_id) if include_public else Env.team_id == team_id)
        async with self._db.session(write=False) as session:
            envs = list(await session.scalars(query.order_by(Env.created_at, Env.id)))
            return await _records(session, envs)

    async def alias_owner(self, alias: str) -> tuple[str | None, bool] | None:
        """(owning team or None for the platform, public) of an alias; None when unused."""
        query = select(Env.team_id, Env.public).join(EnvAlias).where(EnvAlias.alias == alias)
        async with self._db.session(write=False) as session:
            found = (await session.execute(query)).one_or_none()
            return None if found is None else (found.team_id, found.public)

    async def ensure_platform_template(self, template_id: str) -> bool:
        """A public template owned by no team (a default one), aliased by its id, with no
        build yet; True if it was made now."""
        check_name(template_id)
        async with self._db.session() as session:
            await self._serialize(session, NAMES)
            if await session.get(Env, template_id) is not None:
                return False
            session.add(_new_env(template_id, None, True, utcnow()))
            await session.flush()
            await set_aliases(session, template_id, [template_id])
            return True

    async def own_template_id(self, team_id: str, name: str) -> str | None:
        """The id of the team's own template called `name` (id or alias), whatever its builds'
        status: a new build of an existing name goes to that template."""
        query = (
            select(Env.id)
            .outerjoin(EnvAlias, EnvAlias.env_id == Env.id)
            .where(Env.team_id == team_id, (Env.id == name) | (EnvAlias.alias == name))
            .limit(1)
        )
        async with self._db.session(write=False) as session:
            found: str | None = await session.scalar(query)
            return found

    async def delete_template(self, team_id: str, template_id: str) -> bool:
        """Delete a team's own template with its aliases, builds and logs; False if none."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(Env).where(Env.id == template_id, Env.team_id == team_id)
            )
            return affected(result) > 0

    async def record_spawn(self, template_id: str) -> None:
        """Count a sandbox started from the template (`spawnCount`, `lastSpawnedAt`)."""
        async with self._db.session() as session:
            await session.execute(
                update(Env)
                .where(Env.id == template_id)
                .values(spawn_count=Env.spawn_count + 1, last_spawned_at=utcnow())
            )


async def _records(
    session: AsyncSession,
    envs: Sequence[Env],
    *,
    ready_only: bool = False,
    builds: dict[str, EnvBuild] | None = None,
) -> list[TemplateRecord]:
    """Records for `envs` (in that order) that have a current build (or the one `builds`
    gives); the others are left out."""
    ids = [env.id for env in envs]
    if not ids:
        return []
    if builds is None:
        builds = await current_builds(session, ids, ready_only=ready_only)
    counted = await session.execute(
        select(EnvBuild.env_id, func.count())
        .where(EnvBuild.env_id.in_(ids))
        .group_by(EnvBuild.env_id)
    )
    counts = {env_id: count for env_id, count in counted}
    aliases: dict[str, list[str]] = {}
    rows = await session.execute(
        select(EnvAlias.env_id, EnvAlias.alias)
        .where(EnvAlias.env_id.in_(ids))
        .order_by(EnvAlias.alias)
    )
    for env_id, alias in rows:
        aliases.setdefault(env_id, []).append(alias)
    records = []
    for env in envs:
        build = builds.get(env.id)
        if build is None:
            continue
        records.append(
            TemplateRecord(
                id=env.id,
                team_id=env.team_id,
                public=env.public,
                aliases=tuple(aliases.get(env.id, ())),
                build_id=build.id,
                build_status=cast(BuildStatus, build.status),
                vcpu=build.vcpu,
                memory_mb=build.memory_mb,
                disk_mb=build.disk_mb,
                envd_version=build.envd_version or "",
                rootfs=build.rootfs or "",
                start_cmd=build.start_cmd,
                ready_cmd=build.ready_cmd,
                created_at=env.created_at,
                updated_at=env.updated_at,
                spawn_count=env.spawn_count,
                last_spawned_at=env.last_spawned_at,
                build_count=counts.get(env.id, 0),
            )
        )
    return records


def _new_env(template_id: str, team_id: str | None, public: bool, now: datetime) -> Env:
    """A template row that has never been spawned."""
    return Env(
        id=template_id,
        team_id=team_id,
        public=public,
        created_at=now,
        updated_at=now,
        spawn_count=0,
        last_spawned_at=None,
    )
