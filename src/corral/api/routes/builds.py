"""Template builds (wire protocol 2.4): what `Template.build(...)` of the official SDK calls.

`POST /v3/templates` names the template and opens a build; the SDK asks where to upload each
COPY step's files (`GET …/files/{hash}`, answered with a signed URL on this API), uploads the
missing ones, starts the build (`POST /v2/…/builds/{buildID}`) and polls its status with
`logsOffset`. `POST /templates` is the legacy Dockerfile flow, started at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from corral.api.db.store.names import DEFAULT_TAG, clean_tags, parse_ref
from corral.api.deps import Ctx, Team
from corral.api.errors import BadRequest, Conflict, Forbidden, NotFound
from corral.api.openapi import errors
from corral.api.template_builds import (
    NODE_PREFIX,
    UPLOAD_URL_SECONDS,
    check_upload,
    start_on_node,
    upload_signature,
)
from corral.api.template_schemas import (
    BuildLogEntry,
    BuildStatusReason,
    LegacyTemplateBuild,
    LegacyTemplateBuildRequest,
    LogLevel,
    TemplateBuildFileUpload,
    TemplateBuildInfo,
    TemplateBuildRequestV3,
    TemplateBuildStartV2,
    TemplateRequestResponseV3,
)
from corral.templates.errors import InvalidBuildSpec
from corral.templates.spec import BuildSpec, parse_spec
from corral.templates.store import open_store

router = APIRouter(tags=["templates"])

NEW_ERRORS = errors(400, 401, 409, 429, 500)
READ_ERRORS = errors(400, 401, 403, 404, 429, 500)
START_ERRORS = errors(400, 401, 403, 404, 409, 429, 500, 503)
UPLOAD_ERRORS = errors(400, 500)


def _requested_tags(name: str, tags: list[str] | None) -> tuple[str, list[str]]:
    """(template name, tags the build takes when ready) of `name[:tag]` and `tags`, as E2B
    reads them: the name's tag first, then `tags`; `default` only when there is none."""
    parsed = parse_ref(name)
    if parsed is None:
        raise BadRequest(f"invalid template name {name!r}: expected 'name' or 'name:tag'")
    alias, tag = parsed
    asked = ([] if tag == DEFAULT_TAG else [tag]) + (tags or [])
    try:
        return alias, clean_tags(asked) or [DEFAULT_TAG]
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


async def _template_for_build(
    ctx: Ctx,
    team_id: str,
    name: str,
    vcpu: int | None,
    memory_mb: int | None,
    tags: list[str] | None = None,
) -> tuple[str, str, list[str], list[str]]:
    """(template id, new build id, aliases, tags): the team's template of that name gets a
    new build; a new name makes a new template. A name another team owns is a 409."""
    alias, wanted = _requested_tags(name, tags)
    existing = await ctx.store.own_template_id(team_id, alias)
    if existing is not None:
        current = await ctx.store.get_template(team_id, existing)
        build = await ctx.store.create_build(
            existing,
            vcpu=vcpu or (current.vcpu if current else 2),
            memory_mb=memory_mb or (current.memory_mb if current else 1024),
            tags=wanted,
        )
        aliases = list(current.aliases) if current else [alias]
        return existing, build.id, aliases, wanted
    owner = await ctx.store.alias_owner(alias)
    if owner is not None:
        raise Conflict(f"template name '{alias}' is taken")
    try:
        created = await ctx.store.create_template(
            team_id,
            aliases=[alias],
            vcpu=vcpu or 2,
            memory_mb=memory_mb or 1024,
            tags=wanted,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return created.id, created.build_id, list(created.aliases), wanted


@router.post(
    "/v3/templates",
    status_code=202,
    response_model=TemplateRequestResponseV3,
    responses=NEW_ERRORS,
    response_model_by_alias=True,
)
async def request_build(
    ctx: Ctx, team: Team, body: TemplateBuildRequestV3
) -> TemplateRequestResponseV3:
    name = body.name or body.alias
    if not name:
        raise BadRequest("name is required")
    template_id, build_id, aliases, tags = await _template_for_build(
        ctx, team.id, name, body.cpu_count, body.memory_mb, body.tags
    )
    ctx.forget_templates()
    return TemplateRequestResponseV3(
        template_id=template_id,
        build_id=build_id,
        public=False,
        names=aliases,
        tags=tags,
        aliases=aliases,
    )


async def _own_build(
    ctx: Ctx, team_id: str, template_id: str, build_id: str | None = None, *, read: bool = False
) -> None:
    """The template is the team's (or, to `read` a build's status, public) and has that build."""
    template = await ctx.store.get_template(team_id, template_id)
    if template is None:
        raise NotFound(f"template '{template_id}' not found")
    if template.team_id != team_id and not (read and template.public):
        raise Forbidden(f"template '{template_id}' is not the team's")
    if build_id is not None:
        build = await ctx.store.get_build(build_id)
        if build is None or build.template_id != template_id:
            raise NotFound(f"build '{build_id}' of template '{template_id}' not found")


@router.get(
    "/templates/{template_id}/files/{files_hash}",
    status_code=201,
    response_model=TemplateBuildFileUpload,
    response_model_exclude_none=True,
    responses=READ_ERRORS,
)
async def file_upload_link(
    ctx: Ctx,
    team: Team,
    request: Request,
    template_id: str,
    files_hash: str,
) -> TemplateBuildFileUpload:
    if not _is_hash(files_hash):
        raise BadRequest("the files hash must be 64 lowercase hex digits")
    await _own_build(ctx, team.id, template_id)
    if await open_store(ctx.settings.artifacts_url).exists(f"files/{files_hash}"):
        return TemplateBuildFileUpload(present=True)
    expires = int(time.time()) + UPLOAD_URL_SECONDS
    signature = upload_signature(ctx, template_id, files_hash, expires)
    url = str(request.url_for("upload_files", template_id=template_id, files_hash=files_hash))
    return TemplateBuildFileUpload(
        present=False, url=f"{url}?expires={expires}&signature={signature}"
    )


def _is_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


@router.put("/templates/{template_id}/files/{files_hash}", status_code=201, responses=UPLOAD_ERRORS)
async def upload_files(
    ctx: Ctx, request: Request, template_id: str, files_hash: str, expires: int, signature: str
) -> Response:
    """Where the upload URL points: no API key, the signature is the permission."""
    if not _is_hash(files_hash):
        raise BadRequest("the files hash must be 64 lowercase hex digits")
    check_upload(ctx, template_id, files_hash, expires, signature)
    limit = ctx.settings.max_upload_bytes

    async def body() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise BadRequest(f"upload larger than {limit} bytes")
            yield chunk

    await open_store(ctx.settings.artifacts_url).put(f"files/{files_hash}", body())
    return Response(status_code=201)


def _spec(body: TemplateBuildStartV2) -> BuildSpec:
    raw = body.model_dump(by_alias=True, exclude_none=True)
    try:
        return parse_spec(raw)
    except InvalidBuildSpec as exc:
        raise BadRequest(str(exc)) from exc


@router.post(
    "/v2/templates/{template_id}/builds/{build_id}", status_code=202, responses=START_ERRORS
)
async def start_build(
    ctx: Ctx, team: Team, template_id: str, build_id: str, body: TemplateBuildStartV2
) -> Response:
    await _own_build(ctx, team.id, template_id, build_id)
    build = await ctx.store.get_build(build_id)
    assert build is not None
    if build.status != "waiting":
        raise Conflict(f"build '{build_id}' was already started ({build.status})")
    spec = _spec(body)
    base_template_id = base_build_id = ""
    if spec.from_template:
        base = await ctx.template(team.id, spec.from_template)
        if base is None:
            raise BadRequest(f"template '{spec.from_template}' to build from was not found")
        base_template_id, base_build_id = base.id, base.build_id
    await _start(ctx, build_id, template_id, spec, base_template_id, base_build_id)
    return Response(status_code=202)


async def _start(
    ctx: Ctx, build_id: str, template_id: str, spec: BuildSpec, base_template: str, base_build: str
) -> None:
    raw = spec.model_dump(by_alias=True, exclude_none=True)
    node = await start_on_node(ctx, build_id, template_id, raw, base_template, base_build)
    await ctx.store.update_build(
        build_id,
        status="building",
        spec=_without_secrets(raw),
        start_cmd=spec.start_cmd,
        ready_cmd=spec.ready_cmd,
        rootfs=f"{NODE_PREFIX}{node.id}",
    )
    ctx.build_watchers.watch(build_id, node)


def _without_secrets(raw: dict[str, object]) -> dict[str, object]:
    """The spec as the database keeps it: registry credentials go to the node, never to disk."""
    registry = raw.get("fromImageRegistry")
    if isinstance(registry, dict) and "password" in registry:
        return {**raw, "fromImageRegistry": {**registry, "password": "<redacted>"}}
    return raw


@router.get(
    "/templates/{template_id}/builds/{build_id}/status",
    response_model=TemplateBuildInfo,
    response_model_exclude_none=True,
    responses=READ_ERRORS,
)
async def build_status(
    ctx: Ctx,
    team: Team,
    template_id: str,
    build_id: str,
    logs_offset: Annotated[int, Query(alias="logsOffset", ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    level: Annotated[str | None, Query(pattern="^(debug|info|warn|error)$")] = None,
) -> TemplateBuildInfo:
    await _own_build(ctx, team.id, template_id, build_id, read=True)
    build = await ctx.store.get_build(build_id)
    assert build is not None
    lines = await ctx.store.build_logs(build_id, logs_offset, limit)
    entries = [
        BuildLogEntry(timestamp=r.at, message=r.message, level=_level(r.level), step=r.step)
        for r in lines
    ]
    if level is not None:
        entries = [e for e in entries if e.level == level]
    reason = None
    if build.status == "error":
        errors = [e for e in entries if e.level == "error"]
        step = next((e.step for e in reversed(errors) if e.step), None)
        reason = BuildStatusReason(
            message=build.reason or "the build failed", step=step, log_entries=errors[-20:]
        )
    status = build.status
    return TemplateBuildInfo(
        logs=[e.message for e in entries],
        log_entries=entries,
        template_id=template_id,
        build_id=build_id,
        status=status if status in ("building", "waiting", "ready", "error") else "building",
        reason=reason,
    )


def _level(value: str) -> LogLevel:
    return LEVELS.get(value, "info")


LEVELS: dict[str, LogLevel] = {"debug": "debug", "info": "info", "warn": "warn", "error": "error"}


@router.post(
    "/templates",
    status_code=202,
    response_model=LegacyTemplateBuild,
    responses=START_ERRORS,
)
async def legacy_build(
    ctx: Ctx, team: Team, body: LegacyTemplateBuildRequest
) -> LegacyTemplateBuild:
    """E2B's legacy Dockerfile flow: the build starts at once."""
    try:
        spec = parse_spec(
            {"dockerfile": body.dockerfile, "startCmd": body.start_cmd, "readyCmd": body.ready_cmd}
        )
    except InvalidBuildSpec as exc:
        raise BadRequest(str(exc)) from exc
    name = body.alias
    if name:
        template_id, build_id, aliases, _ = await _template_for_build(
            ctx, team.id, name, body.cpu_count, body.memory_mb
        )
    else:
        created = await ctx.store.create_template(
            team.id, vcpu=body.cpu_count or 2, memory_mb=body.memory_mb or 1024
        )
        template_id, build_id, aliases = created.id, created.build_id, []
    await _start(ctx, build_id, template_id, spec, "", "")
    build = await ctx.store.get_build(build_id)
    assert build is not None
    return LegacyTemplateBuild(
        template_id=template_id,
        build_id=build_id,
        cpu_count=build.vcpu,
        memory_mb=build.memory_mb,
        disk_size_mb=build.disk_mb,
        envd_version=build.envd_version or "",
        public=False,
        aliases=aliases,
    )
