"""Template names: what an SDK's `templateID` may say, the aliases a template holds, tags.

Aliases are global (E2B keys them per namespace; Corral has no namespaces yet). A reference
is `[namespace/]name[:tag]`; tags follow E2B's rules (lowercase letters, digits, `-`, `_`,
`.`; never a UUID, which `name:<build id>` names instead).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.errors import AlreadyExists
from corral.api.db.models import Env, EnvAlias

DEFAULT_TAG = "default"
MAX_TAG = 128
_TAG = re.compile(r"[a-z0-9._-]+")


def parse_ref(ref: str) -> tuple[str, str] | None:
    """(template id or alias, tag) that an SDK's `templateID` names, or None if it cannot match.

    Accepted: `base`, `<template id>`, `name:tag`, `namespace/name`, `namespace/name:tag`. The
    namespace is ignored (aliases are global here); no tag means `default`; tags are
    compared lowercased, as E2B does.
    """
    name, colon, tag = ref.strip().partition(":")
    name = name.strip().rpartition("/")[2]
    if not name:
        return None
    if not colon:
        return name, DEFAULT_TAG
    cleaned = _normal_tag(tag)
    return None if cleaned is None else (name, cleaned)


def template_name(ref: str) -> str | None:
    """The template id or alias that `ref` names (see `parse_ref`), without its tag."""
    parsed = parse_ref(ref)
    return None if parsed is None else parsed[0]


def _normal_tag(tag: str) -> str | None:
    cleaned = tag.strip().lower()
    return cleaned if len(cleaned) <= MAX_TAG and _TAG.fullmatch(cleaned) else None


def is_build_id(tag: str) -> bool:
    """A tag in UUID form names the build with that id (E2B's `name:<build id>`)."""
    try:
        uuid.UUID(tag)
    except ValueError:
        return False
    return True


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags to assign, normalized (trimmed, lowercase) and without repeats, in order.

    Raises ValueError naming the first invalid one: outside E2B's alphabet, too long, or a
    UUID (which would be taken for a build id).
    """
    cleaned: list[str] = []
    for tag in tags:
        value = _normal_tag(tag)
        if value is None:
            raise ValueError(
                f"invalid tag {tag!r}: up to {MAX_TAG} lowercase letters, digits, '-', '_', '.'"
            )
        if is_build_id(value):
            raise ValueError(f"invalid tag {tag!r}: a tag cannot be a UUID")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


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
