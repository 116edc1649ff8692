"""Template tags (E2B's `name:tag`): which build each tag names, and moving them.

A tag names one build of its template. A build takes the tags its `POST /v3/templates` asked
for when it becomes ready (`default` when it asked for none, as E2B does): a failed build
never takes a tag, and `name:tag` keeps starting the previous build until the new one is
ready. A bare name means `default`; a template whose builds all asked for other tags has no
`default` yet, and its bare name starts its latest ready build.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.models import Env, EnvAlias, EnvBuild, EnvTag
from corral.api.db.records import TagRecord
from corral.api.db.store._base import StorePart, affected, utcnow
from corral.api.db.store.builds import current_builds
from corral.api.db.store.names import DEFAULT_TAG, is_build_id


def tag_record(row: EnvTag) -> TagRecord:
    return TagRecord(
        template_id=row.env_id, tag=row.tag, build_id=row.build_id, created_at=row.created_at
    )


async def assign(
    session: AsyncSession, template_id: str, build_id: str, tags: Sequence[str], now: datetime
) -> None:
    """Point each of `tags` of the template at the build (a new tag, or one that moves)."""
    for tag in tags:
        row = await session.get(EnvTag, (template_id, tag))
        if row is None:
            session.add(EnvTag(env_id=template_id, tag=tag, build_id=build_id, created_at=now))
        else:
            row.build_id, row.created_at = build_id, now
    await session.flush()


async def tagged_build(session: AsyncSession, template_id: str, tag: str) -> EnvBuild | None:
    """The ready build that `template:tag` names, or None.

    A tag in UUID form is a build id of the template. `default` with no row (no build asked
    for it yet) is the latest ready build.
    """
    if is_build_id(tag):
        build = await session.get(EnvBuild, tag)
        if build is None or build.env_id != template_id:
            return None
    else:
        row = await session.get(EnvTag, (template_id, tag))
        if row is None:
            if tag != DEFAULT_TAG:
                return None
            latest = await current_builds(session, [template_id], ready_only=True)
            return latest.get(template_id)
        build = await session.get(EnvBuild, row.build_id)
    return build if build is not None and build.status == "ready" else None


def _topic(template_id: str) -> str:
    return f"corral.template-tags.{template_id}"


class Tags(StorePart):
    async def template_owner(self, name: str) -> tuple[str, str | None] | None:
        """(template id, owning team or None for the platform) of a template id or alias,
        whoever owns it: tag routes tell another team's template (403) from none (404)."""
        query = (
            select(Env.id, Env.team_id)
            .outerjoin(EnvAlias, EnvAlias.env_id == Env.id)
            .where(or_(Env.id == name, EnvAlias.alias == name))
            .limit(1)
        )
        async with self._db.session(write=False) as session:
            found = (await session.execute(query)).one_or_none()
            return None if found is None else (found.id, found.team_id)

    async def assign_tags(
        self, template_id: str, target_tag: str, tags: Sequence[str]
    ) -> str | None:
        """Point `tags` at the build that `target_tag` names now, in one transaction; that
        build's id, or None when the target names no ready build."""
        async with self._db.session() as session:
            await self._serialize(session, _topic(template_id))
            build = await tagged_build(session, template_id, target_tag)
            if build is None:
                return None
            await assign(session, template_id, build.id, tags, utcnow())
            return build.id

    async def tag_ready_build(self, build_id: str) -> list[str]:
        """Give a build that just became ready the tags it was requested with (`default` if
        none); the tags given, none when the build is missing or not ready."""
        async with self._db.session() as session:
            build = await session.get(EnvBuild, build_id)
            if build is None or build.status != "ready":
                return []
            await self._serialize(session, _topic(build.env_id))
            tags = list(build.tags or [DEFAULT_TAG])
            await assign(session, build.env_id, build.id, tags, utcnow())
            return tags

    async def delete_tags(self, template_id: str, tags: Sequence[str]) -> int:
        """Remove the template's `tags` (those it does not have are ignored); how many went."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(EnvTag).where(EnvTag.env_id == template_id, EnvTag.tag.in_(list(tags)))
            )
            return affected(result)

    async def list_tags(self, template_id: str) -> list[TagRecord]:
        """The template's tags, by name."""
        query = select(EnvTag).where(EnvTag.env_id == template_id).order_by(EnvTag.tag)
        async with self._db.session(write=False) as session:
            return [tag_record(row) for row in await session.scalars(query)]
