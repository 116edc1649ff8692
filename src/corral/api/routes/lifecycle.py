"""Pause, connect and resume (wire protocol 2.1).

Connect is what the SDK calls for `Sandbox.connect()`: 200 when the sandbox was running (its
timeout is extended if asked), 201 when it had to be resumed first. Pausing a paused sandbox
is a 409, which the SDK reports as `pause() == False`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Response

from corral.api import sandboxes
from corral.api.context import ApiContext
from corral.api.db.records import TeamRecord
from corral.api.deps import Ctx, Team
from corral.api.errors import Conflict, NotFound
from corral.api.openapi import Responses
from corral.api.routes.sandboxes import NODE_ERRORS
from corral.api.schemas import Connect, Pause, Resume, SandboxOut

router = APIRouter(tags=["sandboxes"])

RESUMED: Responses = {201: {"description": "Resumed first", "model": SandboxOut}}


@router.post("/sandboxes/{sandbox_id}/pause", status_code=204, responses=NODE_ERRORS)
async def pause(ctx: Ctx, team: Team, sandbox_id: str, body: Pause | None = None) -> Response:
    """Pause with memory and processes (`memory` omitted or true), or the filesystem only
    (`memory: false`: processes end, and the resume boots the sandbox afresh on its files)."""
    node, sandbox = await sandboxes.find(ctx, team, sandbox_id)
    if sandbox.state == "paused":
        raise Conflict(f"sandbox {sandbox_id} is already paused")
    memory = body is None or body.memory is not False
    paused = await node.client.pause(sandbox_id, memory=memory)
    await sandboxes.publish(ctx, node, paused)
    await ctx.store.record_event(sandbox_id, team.id, "paused")
    return Response(status_code=204)


async def _connect(
    ctx: ApiContext,
    team: TeamRecord,
    sandbox_id: str,
    timeout_s: int | None,
    response: Response,
) -> SandboxOut:
    seconds = ctx.settings.default_timeout if timeout_s is None else timeout_s
    try:
        node, sandbox = await sandboxes.find(ctx, team, sandbox_id)
    except NotFound:
        # Its node may be gone: any node resumes a pause saved in the artifact store.
        node, resumed = await sandboxes.adopt(ctx, team, sandbox_id, seconds)
        response.status_code = 201
        return sandboxes.out(ctx, node, resumed)
    if sandbox.state == "running":
        if timeout_s is not None:
            wanted = datetime.now(UTC) + timedelta(seconds=seconds)
            if wanted > sandbox.end_time:
                sandbox = await node.client.set_timeout(sandbox_id, end_time=wanted)
        response.status_code = 200
        return sandboxes.out(ctx, node, sandbox)
    resumed = await sandboxes.resume(ctx, node, sandbox, seconds, by="connect")
    response.status_code = 201
    return sandboxes.out(ctx, node, resumed)


@router.post(
    "/v2/sandboxes/{sandbox_id}/connect",
    response_model=SandboxOut,
    responses={**NODE_ERRORS, **RESUMED},
)
async def connect(
    ctx: Ctx, team: Team, sandbox_id: str, response: Response, body: Connect | None = None
) -> SandboxOut:
    return await _connect(ctx, team, sandbox_id, body.timeout if body else None, response)


@router.post(
    "/sandboxes/{sandbox_id}/connect",
    response_model=SandboxOut,
    responses={**NODE_ERRORS, **RESUMED},
)
async def connect_v1(
    ctx: Ctx, team: Team, sandbox_id: str, response: Response, body: Connect | None = None
) -> SandboxOut:
    """Legacy connect (older SDKs)."""
    return await _connect(ctx, team, sandbox_id, body.timeout if body else None, response)


@router.post(
    "/sandboxes/{sandbox_id}/resume",
    status_code=201,
    response_model=SandboxOut,
    responses=NODE_ERRORS,
)
async def resume(
    ctx: Ctx, team: Team, sandbox_id: str, response: Response, body: Resume | None = None
) -> SandboxOut:
    """Legacy resume: 409 when the sandbox is already running."""
    _, sandbox = await sandboxes.find(ctx, team, sandbox_id)
    if sandbox.state == "running":
        raise Conflict(f"sandbox {sandbox_id} is already running")
    return await _connect(ctx, team, sandbox_id, body.timeout if body else None, response)
