"""Template reads (wire protocol 2.4): list, get, alias lookup, delete.

Builds (`POST /v3/templates`, …) arrive with the templates issue; the default templates are
registered by `corral up`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from corral.api import snapshots
from corral.api.db.records import TemplateRecord
from corral.api.db.store import template_name
from corral.api.deps import Ctx, Team
from corral.api.errors import Forbidden, NotFound
from corral.api.openapi import errors
from corral.api.routes.sandboxes import ERRORS, LIST_ERRORS
from corral.api.schemas import TemplateAlias, TemplateOut
from corral.api.template_builds import node_of, remove_from_nodes

router = APIRouter(tags=["templates"])


def template_out(t: TemplateRecord) -> TemplateOut:
    return TemplateOut(
        template_id=t.id,
        build_id=t.build_id,
        cpu_count=t.vcpu,
        memory_mb=t.memory_mb,
        disk_size_mb=t.disk_mb,
        public=t.public,
        aliases=list(t.aliases),
        names=list(t.aliases) or [t.id],
        created_at=t.created_at,
        updated_at=t.updated_at,
        last_spawned_at=t.last_spawned_at,
        spawn_count=t.spawn_count,
        build_count=t.build_count,
        envd_version=t.envd_version,
    )


@router.get("/templates", response_model=list[TemplateOut], responses=LIST_ERRORS)
async def list_templates(ctx: Ctx, team: Team) -> list[TemplateOut]:
    """The team's templates and the public ones."""
    return [template_out(t) for t in await ctx.store.list_templates(team.id)]


@router.get("/v2/templates", response_model=list[TemplateOut], responses=LIST_ERRORS)
async def list_templates_v2(ctx: Ctx, team: Team) -> list[TemplateOut]:
    return [template_out(t) for t in await ctx.store.list_templates(team.id)]


@router.get(
    "/templates/aliases/{alias}",
    response_model=TemplateAlias,
    responses=errors(400, 401, 403, 404, 429, 500),
)
async def template_by_alias(ctx: Ctx, team: Team, alias: str) -> TemplateAlias:
    """200 when the alias is the team's or public, 403 when another team owns it, else 404.
    `name:tag` is 200 only when that tag names a ready build (checked after ownership)."""
    owner = await ctx.store.alias_owner(template_name(alias) or alias)
    if owner is None:
        raise NotFound(f"template alias '{alias}' not found")
    owner_team, public = owner
    if owner_team not in (None, team.id) and not public:
        raise Forbidden(f"template alias '{alias}' belongs to another team")
    template = await ctx.store.resolve_template(team.id, alias)
    if template is None:
        raise NotFound(f"template alias '{alias}' not found")
    return TemplateAlias(template_id=template.id, public=template.public)


@router.get("/templates/{template_id}", response_model=TemplateOut, responses=ERRORS)
async def get_template(ctx: Ctx, team: Team, template_id: str) -> TemplateOut:
    template = await ctx.store.get_template(team.id, template_id)
    if template is None:
        raise NotFound(f"template '{template_id}' not found")
    return template_out(template)


@router.delete("/templates/{template_id}", status_code=204, responses=ERRORS)
async def delete_template(ctx: Ctx, team: Team, template_id: str) -> Response:
    """Only a team's own templates; public platform templates are not deletable here. Its
    builds go from the nodes too (running sandboxes keep their root filesystem mounted).
    A snapshot's id deletes the snapshot (the SDK's `delete_snapshot`)."""
    if await snapshots.delete(ctx, team, template_id):
        return Response(status_code=204)
    builds = await ctx.store.list_builds(template_id, limit=1000)
    if not await ctx.store.delete_template(team.id, template_id):
        raise NotFound(f"template '{template_id}' not found")
    ctx.forget_templates()
    await remove_from_nodes(ctx, [(b.id, node_of(b.rootfs)) for b in builds])
    return Response(status_code=204)
