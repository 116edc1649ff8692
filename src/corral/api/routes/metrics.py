"""Sandbox metrics (`GET /sandboxes/{id}/metrics`, `GET /sandboxes/metrics`).

Each call reports the sandbox's use now (one point per sandbox): CPU since the node's previous
sample, memory and disk of its cgroup and writable layer. Paused sandboxes have none.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from corral.api import sandboxes
from corral.api.context import ApiContext
from corral.api.db.records import TeamRecord
from corral.api.deps import Ctx, Team
from corral.api.errors import ApiError, BadRequest
from corral.api.routes.sandboxes import NODE_ERRORS
from corral.api.schemas import SandboxesMetrics, SandboxMetric
from corral.orchestrator.errors import StateConflict

router = APIRouter(tags=["sandboxes"])

MAX_IDS = 100
UnixSeconds = Annotated[int | None, Query(ge=0, le=2**63 - 1)]
"""E2B's `int64` bounds (wire protocol 2.1: `start`, `end` as Unix seconds)."""


async def _metric(ctx: ApiContext, team: TeamRecord, sandbox_id: str) -> SandboxMetric | None:
    node, _ = await sandboxes.find(ctx, team, sandbox_id)
    try:
        m = await node.client.metrics(sandbox_id)
    except StateConflict:
        return None
    return SandboxMetric(
        timestamp=m.timestamp,
        timestamp_unix=int(m.timestamp.timestamp()),
        cpu_count=m.cpu_count,
        cpu_used_pct=m.cpu_used_pct,
        mem_used=m.mem_used,
        mem_total=m.mem_total,
        mem_cache=0,
        disk_used=m.disk_used,
        disk_total=m.disk_total,
    )


@router.get("/sandboxes/metrics", response_model=SandboxesMetrics, responses=NODE_ERRORS)
async def many(
    ctx: Ctx, team: Team, sandbox_ids: Annotated[str, Query(min_length=1)]
) -> SandboxesMetrics:
    """The latest metrics of each listed sandbox (comma-separated ids) that is running."""
    wanted = list(dict.fromkeys(i.strip() for i in sandbox_ids.split(",") if i.strip()))
    if len(wanted) > MAX_IDS:
        raise BadRequest(f"at most {MAX_IDS} sandbox ids per call")
    results = await asyncio.gather(*(_metric(ctx, team, i) for i in wanted), return_exceptions=True)
    found: dict[str, SandboxMetric] = {}
    for sandbox_id, result in zip(wanted, results, strict=True):
        if isinstance(result, SandboxMetric):
            found[sandbox_id] = result
        elif isinstance(result, BaseException) and not isinstance(result, ApiError):
            raise result
    return SandboxesMetrics(sandboxes=found)


@router.get(
    "/sandboxes/{sandbox_id}/metrics", response_model=list[SandboxMetric], responses=NODE_ERRORS
)
async def one(
    ctx: Ctx, team: Team, sandbox_id: str, start: UnixSeconds = None, end: UnixSeconds = None
) -> list[SandboxMetric]:
    """The sandbox's metrics within [start, end] (Unix seconds): the point taken now."""
    metric = await _metric(ctx, team, sandbox_id)
    if metric is None:
        return []
    at = metric.timestamp_unix
    if (start is not None and at < start) or (end is not None and at > end):
        return []
    return [metric]
