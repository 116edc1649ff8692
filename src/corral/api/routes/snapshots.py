"""Snapshots and forks (wire protocol 2.1): `create_snapshot`, `list_snapshots`, `fork`.

Deleting a snapshot is `DELETE /templates/{id}` (a snapshot is used as a template); that route
lives with the templates and hands snapshot ids to `corral.api.snapshots`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from corral.api import snapshots
from corral.api.db.records import SnapshotRecord
from corral.api.deps import Ctx, Team
from corral.api.openapi import errors
from corral.api.routes.sandboxes import NODE_ERRORS
from corral.api.snapshot_schemas import Fork, ForkResult, NewSnapshot, SnapshotOut

router = APIRouter(tags=["snapshots"])


def snapshot_out(record: SnapshotRecord) -> SnapshotOut:
    return SnapshotOut(snapshot_id=record.id, names=list(record.names))


@router.post(
    "/sandboxes/{sandbox_id}/snapshots",
    status_code=201,
    response_model=SnapshotOut,
    responses=NODE_ERRORS,
)
async def create_snapshot(
    ctx: Ctx, team: Team, sandbox_id: str, body: NewSnapshot | None = None
) -> SnapshotOut:
    """Save the running sandbox (it keeps running, after a short pause): a persistent
    snapshot that new sandboxes start from, by its id or name, in place of a template."""
    record = await snapshots.take(ctx, team, sandbox_id, body or NewSnapshot())
    return snapshot_out(record)


@router.get("/snapshots", response_model=list[SnapshotOut], responses=errors(400, 401, 429, 500))
async def list_snapshots(
    ctx: Ctx,
    team: Team,
    response: Response,
    sandbox_id: Annotated[str | None, Query(alias="sandboxID", max_length=64)] = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", pattern=r"^\d{1,9}$")] = None,
) -> list[SnapshotOut]:
    """The team's snapshots, newest first; `x-next-token` when there may be more."""
    offset = int(next_token or 0)
    records = await ctx.store.list_snapshots(
        team.id, sandbox_id, name=name, limit=limit + 1, offset=offset
    )
    records = [r for r in records if r.env_id is not None]
    if len(records) > limit:
        response.headers["x-next-token"] = str(offset + limit)
    return [snapshot_out(r) for r in records[:limit]]


@router.post(
    "/sandboxes/{sandbox_id}/fork",
    status_code=201,
    response_model=list[ForkResult],
    response_model_exclude_none=True,
    responses=NODE_ERRORS,
)
async def fork_sandbox(
    ctx: Ctx, team: Team, sandbox_id: str, body: Fork | None = None
) -> list[ForkResult]:
    """New sandboxes from the source's memory and files now (it keeps running); one entry
    per fork, its sandbox or its error (the other key left out: the SDK reads null as one)."""
    return await snapshots.fork(ctx, team, sandbox_id, body or Fork())
