"""Snapshots and forks of running sandboxes, between the routes and the nodes.

A snapshot is saved by the sandbox's node into the artifact store (so any node can start
sandboxes from it) and recorded here, where the team finds it by id or by name. It is used as
a template: `POST /sandboxes` with its id or name. A fork is a snapshot of memory that lives
only as long as its children take to start, all on the source's node, which has it cached.
"""

from __future__ import annotations

import asyncio
import secrets

from corral import logs
from corral.api import ids, sandboxes
from corral.api.context import ApiContext
from corral.api.db.records import SnapshotRecord, TeamRecord
from corral.api.db.store._base import new_template_id
from corral.api.errors import ApiError, Conflict, from_node
from corral.api.nodes import Node
from corral.api.schemas import Error
from corral.api.snapshot_schemas import Fork, ForkResult, NewSnapshot
from corral.orchestrator.errors import OrchestratorError
from corral.orchestrator.wire import Sandbox

log = logs.get("api.snapshots")


async def _running(ctx: ApiContext, team: TeamRecord, sandbox_id: str) -> tuple[Node, Sandbox]:
    node, sandbox = await sandboxes.find(ctx, team, sandbox_id)
    if sandbox.state != "running":
        raise Conflict(f"sandbox {sandbox_id} is paused: resume it first")
    return node, sandbox


async def take(
    ctx: ApiContext, team: TeamRecord, sandbox_id: str, body: NewSnapshot
) -> SnapshotRecord:
    """Save the sandbox (it keeps running). A name the team already gave a snapshot moves to
    the new one, and the old one is deleted: a name always means the latest state saved."""
    node, sandbox = await _running(ctx, team, sandbox_id)
    snapshot_id = new_template_id()
    info = await node.client.snapshot(sandbox_id, snapshot_id, memory=body.memory is not False)
    previous = await ctx.store.list_snapshots(team.id, name=body.name) if body.name else []
    record = await ctx.store.put_snapshot(
        snapshot_id=snapshot_id,
        sandbox_id=sandbox_id,
        team_id=team.id,
        base_env_id=sandbox.template_id,
        env_id=snapshot_id,
        node_id=node.id,
        metadata=sandbox.metadata,
        memory=info.memory,
        names=[body.name] if body.name else [],
        config={"size_bytes": info.size_bytes, "build_id": info.build_id},
    )
    for old in previous:
        await delete(ctx, team, old.id)
    log.info("snapshot taken", sandbox_id=sandbox_id, snapshot_id=snapshot_id, memory=info.memory)
    return record


async def delete(ctx: ApiContext, team: TeamRecord, snapshot_id: str) -> bool:
    """False when the team has no such snapshot; sandboxes started from it are unaffected.
    Removed through its node (cache and store), or any node when that one is gone."""
    record = await ctx.store.get_snapshot(team.id, snapshot_id)
    if record is None or record.env_id is None:
        return False
    node = await sandboxes.node_for(ctx, record.node_id)
    await node.client.delete_snapshot(snapshot_id)
    return await ctx.store.delete_snapshot(team.id, snapshot_id)


async def fork(ctx: ApiContext, team: TeamRecord, sandbox_id: str, body: Fork) -> list[ForkResult]:
    """`count` new sandboxes from the source's memory now; each starts or fails on its own."""
    node, source = await _running(ctx, team, sandbox_id)
    count = body.count or 1
    timeout = sandboxes.lifetime(ctx, team, body.timeout)
    async with sandboxes.admitted(ctx, team, count):
        snapshot_id = f"fork{secrets.token_hex(8)}"
        await node.client.snapshot(sandbox_id, snapshot_id, memory=True)
        try:
            started = await asyncio.gather(
                *(_child(ctx, node, source, snapshot_id, timeout) for _ in range(count)),
                return_exceptions=True,
            )
        finally:
            try:
                await node.client.delete_snapshot(snapshot_id)
            except OrchestratorError as exc:
                log.error(
                    "removing a fork's snapshot failed", snapshot_id=snapshot_id, error=str(exc)
                )
    results = []
    for child in started:
        if isinstance(child, Sandbox):
            await sandboxes.publish(ctx, node, child)
            results.append(ForkResult(sandbox=sandboxes.out(ctx, node, child)))
        elif isinstance(child, OrchestratorError | ApiError):
            error = from_node(child) if isinstance(child, OrchestratorError) else child
            results.append(ForkResult(error=Error(code=error.status, message=error.message)))
        else:
            raise child
    log.info(
        "sandbox forked",
        sandbox_id=sandbox_id,
        count=count,
        started=sum(r.sandbox is not None for r in results),
    )
    return results


async def _child(
    ctx: ApiContext, node: Node, source: Sandbox, snapshot_id: str, seconds: int
) -> Sandbox:
    child = await node.client.create(
        ids.sandbox_id(),
        source.template_id,
        build_id=source.build_id,
        team_id=source.team_id,
        metadata=source.metadata,
        timeout_seconds=seconds,
        allow_internet_access=source.allow_internet_access,
        envd_access_token=ids.envd_access_token(),
        auto_pause=source.auto_pause,
        auto_resume=source.auto_resume,
        auto_pause_memory=source.auto_pause_memory,
        snapshot_id=snapshot_id,
    )
    await ctx.store.record_event(
        child.sandbox_id, source.team_id, "created", {"forked_from": source.sandbox_id}
    )
    return child
