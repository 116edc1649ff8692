"""Sandbox routes (wire protocol 2.1): create, list, get, kill, timeout, refresh.

Success codes are exactly those the SDK's generated client decodes (201 for creates, 200 for
reads, 204 for the rest); anything else would read as "Body of the request is None".
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from corral.api import listing, sandboxes
from corral.api.deps import Ctx, Team
from corral.api.nodes import list_all
from corral.api.openapi import errors
from corral.api.schemas import (
    ListedSandbox,
    NewSandbox,
    Refresh,
    SandboxDetail,
    SandboxOut,
    Timeout,
)

router = APIRouter(tags=["sandboxes"])

ERRORS = errors(400, 401, 404, 429, 500)
"""What any authenticated route with an id in its path may answer."""
NODE_ERRORS = errors(400, 401, 404, 409, 429, 500, 503)
"""…and one that asks the sandbox's node to change something."""
LIST_ERRORS = errors(400, 401, 429, 500)


@router.post("/v2/sandboxes", status_code=201, response_model=SandboxOut, responses=NODE_ERRORS)
async def create_sandbox(ctx: Ctx, team: Team, body: NewSandbox) -> SandboxOut:
    """Start a sandbox; answered once its envd is reachable."""
    return await sandboxes.create(ctx, team, body)


@router.post("/sandboxes", status_code=201, response_model=SandboxOut, responses=NODE_ERRORS)
async def create_sandbox_v1(ctx: Ctx, team: Team, body: NewSandbox) -> SandboxOut:
    """Legacy create (older SDKs); same body plus an ignored `secure`."""
    return await sandboxes.create(ctx, team, body)


@router.get("/v2/sandboxes", response_model=list[ListedSandbox], responses=LIST_ERRORS)
async def list_sandboxes(
    ctx: Ctx,
    team: Team,
    response: Response,
    metadata: str | None = None,
    state: str | None = None,
    order: Literal["asc", "desc"] = "desc",
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ListedSandbox]:
    """The team's sandboxes, filtered by metadata and state, newest first; `x-next-token`."""
    wanted = listing.parse_metadata(metadata)
    states = listing.parse_states(state)
    after = listing.decode_cursor(next_token) if next_token else None
    found = await list_all(
        ctx.nodes,
        team.id,
        state=listing.node_state(states),
        metadata=wanted,
        ascending=order == "asc",
        limit=limit + 1,  # one more than a page: whether there is a next one
        after=after,
    )
    node_of = {s.sandbox_id: node for node, s in found}
    items, token = listing.page(
        [s for _, s in found], metadata=wanted, states=states, order=order, limit=limit, after=after
    )
    if token:
        response.headers["x-next-token"] = token
    return [sandboxes.listed(node_of[s.sandbox_id], s) for s in items]


@router.get("/sandboxes", response_model=list[ListedSandbox], responses=LIST_ERRORS)
async def list_sandboxes_v1(
    ctx: Ctx, team: Team, metadata: str | None = None
) -> list[ListedSandbox]:
    """Legacy list: the team's running sandboxes, optionally filtered by metadata."""
    wanted = listing.parse_metadata(metadata)
    return [
        sandboxes.listed(node, s)
        for node, s in await list_all(ctx.nodes, team.id)
        if s.state == "running" and all(s.metadata.get(k) == v for k, v in wanted.items())
    ]


@router.get("/sandboxes/{sandbox_id}", response_model=SandboxDetail, responses=ERRORS)
async def get_sandbox(ctx: Ctx, team: Team, sandbox_id: str) -> SandboxDetail:
    node, sandbox = await sandboxes.find(ctx, team, sandbox_id)
    return sandboxes.detail(ctx, node, sandbox)


@router.delete("/sandboxes/{sandbox_id}", status_code=204, responses=NODE_ERRORS)
async def kill_sandbox(ctx: Ctx, team: Team, sandbox_id: str) -> Response:
    await sandboxes.kill(ctx, team, sandbox_id)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/timeout", status_code=204, responses=NODE_ERRORS)
async def set_timeout(ctx: Ctx, team: Team, sandbox_id: str, body: Timeout) -> Response:
    """The sandbox now ends `timeout` seconds from now (longer or shorter than before)."""
    await sandboxes.set_timeout(ctx, team, sandbox_id, body.timeout)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/refreshes", status_code=204, responses=NODE_ERRORS)
async def refresh(ctx: Ctx, team: Team, sandbox_id: str, body: Refresh | None = None) -> Response:
    """Legacy keep-alive: at least `duration` (default 60) more seconds."""
    duration = body.duration if body and body.duration is not None else 60
    await sandboxes.refresh(ctx, team, sandbox_id, duration)
    return Response(status_code=204)
