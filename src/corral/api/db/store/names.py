"""Template names: what an SDK's `templateID` may say, and the aliases a template holds.

Aliases are global (E2B keys them per namespace; Corral has no namespaces yet).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.errors import AlreadyExists
from corral.api.db.models import Env, EnvAlias

DEFAULT_TAG = "default"


def template_name(ref: str) -> str | None:
    """The template id or alias that an SDK's `templateID` names, or None if it cannot match.

    Accepted: `base`, `<template id>`, `name:default`, `namespace/name`, `namespace/name:default`.
    The namespace is ignored (aliases are global here) and `default` is the only tag: Corral
    keeps no other tags, so `name:v2` names nothing.
    """
    name, _, tag = ref.strip().partition(":")
    if tag and tag != DEFAULT_TAG:
        return None
    name = name.rpartition("/")[2]
    return name or None


def check_name(name: str) -> None:
    if not name or ":" in name or "/" in name:
        raise ValueError(f"invalid template name {name!r}: no ':' or '/', not empty")


def visible(team_id: str | None) -> ColumnElement[bool]:
    """Templates the team may see: its own and the public ones."""
    if team_id is None:
        return Env.public.is_(True)
    return or_(Env.public.is_(True), Env.team_id == team_id)


async def set_aliases(session: AsyncSession, template_id: str, aliases: Sequence[str]) -> None:
    """Make `aliases` exactly the template's aliases, refusing names another template holds."""
    wanted = set(aliases)
    for alias in wanted:
        check_name(alias)
    if wanted:
        taken = await session.scalar(
            select(EnvAlias.alias).where(EnvAlias.alias.in_(wanted), EnvAlias.env_id != template_id)
        )
        if taken is None:
            taken = await session.scalar(
                select(Env.id).where(Env.id.in_(wanted), Env.id != template_id)
            )
        if taken is not None:
            raise AlreadyExists(f"template name {taken!r} is taken by another template")
    have = set(await session.scalars(select(EnvAlias.alias).where(EnvAlias.env_id == template_id)))
    if have - wanted:
        await session.execute(delete(EnvAlias).where(EnvAlias.alias.in_(have - wanted)))
    session.add_all(EnvAlias(alias=alias, env_id=template_id) for alias in wanted - have)
    await session.flush()
