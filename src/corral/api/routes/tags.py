"""Template tags (wire protocol 2.4): `Template.assign_tags`, `remove_tags` and `get_tags` of the
official SDK.

A tag names one build of a template (`name:tag`; `db/store/tags.py` has the rules). As in
E2B, only the owning team changes or lists a template's tags: another team's template is a
403 (public or not, as E2B's alias check answers), an unknown one a 404. The `default` tag
cannot be removed.

These routes must be registered before `templates.py`'s: `DELETE /templates/tags` would
otherwise be taken for deleting a template called `tags`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from corral.api.db.store.names import DEFAULT_TAG, clean_tags, parse_ref
from corral.api.deps import Ctx, Team
from corral.api.errors import BadRequest, Forbidden, NotFound
from corral.api.openapi import errors
from corral.api.template_schemas import (
    AssignedTemplateTags,
    AssignTemplateTags,
    DeleteTemplateTags,
    TemplateTagOut,
)

router = APIRouter(tags=["tags"])

ERRORS = errors(400, 401, 403, 404, 429, 500)


def _tags(tags: list[str]) -> list[str]:
    try:
        return clean_tags(tags)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


async def _own_template(ctx: Ctx, team_id: str, name: str) -> str:
    """The id of the team's template called `name` (its id or alias)."""
    found = await ctx.store.template_owner(name)
    if found is None:
        raise NotFound(f"template '{name}' not found")
    template_id, owner = found
    if owner != team_id:
        raise Forbidden(f"you don't have access to template '{name}'")
    return template_id


@router.post(
    "/templates/tags",
    status_code=201,
    response_model=AssignedTemplateTags,
    responses=ERRORS,
)
async def assign_tags(ctx: Ctx, team: Team, body: AssignTemplateTags) -> AssignedTemplateTags:
    """Point the tags at the build that `target` (`name` or `name:tag`) names now; a tag
    that names another build moves."""
    target = parse_ref(body.target)
    if target is None:
        raise BadRequest(f"invalid target template {body.target!r}: expected 'name' or 'name:tag'")
    name, tag = target
    tags = _tags(body.tags)
    template_id = await _own_template(ctx, team.id, name)
    build_id = await ctx.store.assign_tags(template_id, tag, tags)
    if build_id is None:
        raise NotFound(f"template '{body.target}' not found")
    ctx.forget_templates()
    return AssignedTemplateTags(tags=tags, build_id=build_id)


@router.delete("/templates/tags", status_code=204, responses=ERRORS)
async def remove_tags(ctx: Ctx, team: Team, body: DeleteTemplateTags) -> Response:
    """Remove the tags from the template (tags it does not have are no error)."""
    parsed = parse_ref(body.name)
    if parsed is None:
        raise BadRequest(f"invalid template name {body.name!r}")
    if ":" in body.name:
        raise BadRequest("the template name must not contain a tag: put tags in 'tags'")
    tags = _tags(body.tags)
    if DEFAULT_TAG in tags:
        raise BadRequest(f"the '{DEFAULT_TAG}' tag cannot be removed")
    template_id = await _own_template(ctx, team.id, parsed[0])
    await ctx.store.delete_tags(template_id, tags)
    ctx.forget_templates()
    return Response(status_code=204)


@router.get(
    "/templates/{template_id}/tags",
    response_model=list[TemplateTagOut],
    responses=ERRORS,
)
async def list_tags(ctx: Ctx, team: Team, template_id: str) -> list[TemplateTagOut]:
    """The template's tags (by id or name), each with the build it names."""
    parsed = parse_ref(template_id)
    if parsed is None:
        raise BadRequest(f"invalid template name {template_id!r}")
    found = await _own_template(ctx, team.id, parsed[0])
    return [
        TemplateTagOut(tag=t.tag, build_id=t.build_id, created_at=t.created_at)
        for t in await ctx.store.list_tags(found)
    ]
