"""Sandbox operations of the control plane, between the routes and the nodes.

A team sees and touches only its own sandboxes: a sandbox of another team is reported exactly
like an unknown one (404), so ids leak nothing. Sandboxes live on the nodes (the source of
truth); the routing catalog mirrors where each one is reached and whether it is paused, for
the proxy. Nodes change sandboxes on their own too (a pause at the end time), so every lookup
here also corrects the sandbox's route when the catalog is behind (besides `routesync`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from corral import logs
from corral.api import ids
from corral.api.context import ApiContext
from corral.api.db.records import SnapshotRecord, TeamRecord, TemplateRecord
from corral.api.errors import BadRequest, NotFound, TooManyRequests
from corral.api.nodes import Node, list_all, locate
from corral.api.schemas import Lifecycle, ListedSandbox, NewSandbox, SandboxDetail, SandboxOut
from corral.catalog.types import Route
from corral.orchestrator.errors import SandboxNotFound as NodeSandboxNotFound
from corral.orchestrator.models import SANDBOX_ID
from corral.orchestrator.wire import Sandbox

log = logs.get("api.sandboxes")

_creating: Counter[str] = Counter()
"""Creates in flight per team in this process: counted against the concurrency limit."""
_pending: set[asyncio.Task[None]] = set()


def _background(*steps: Coroutine[Any, Any, object]) -> None:
    """Run bookkeeping writes after answering; a failure is logged, never the user's."""

    async def run() -> None:
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("bookkeeping failed", error=str(result))

    task = asyncio.get_running_loop().create_task(run())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def create(ctx: ApiContext, team: TeamRecord, body: NewSandbox) -> SandboxOut:
    """A sandbox of a template, or of a snapshot when the id (or name) is one of the team's."""
    template = await ctx.template(team.id, body.template_id)
    snapshot = None
    if template is None:
        snapshot = await find_snapshot(ctx, team, body.template_id)
        if snapshot is None:
            raise NotFound(f"template '{body.template_id}' not found")
    else:
        _check_resources(team, template)
    timeout = lifetime(ctx, team, body.timeout)
    auto_resume = body.auto_resume is not None and body.auto_resume.enabled
    if auto_resume and body.auto_pause_memory is False:
        raise BadRequest(
            "autoResume cannot be combined with autoPauseMemory false: a filesystem-only"
            " pause cannot be woken by traffic"
        )
    async with admitted(ctx, team, 1):
        node = await node_for(ctx, snapshot.node_id if snapshot else None)
        sandbox = await node.client.create(
            ids.sandbox_id(),
            template.id if template else snapshot.base_env_id,  # type: ignore[union-attr]
            build_id=template.build_id if template else "",
            team_id=team.id,
            vcpu=template.vcpu if template else 0,
            memory_mb=template.memory_mb if template else 0,
            disk_mb=template.disk_mb if template else 0,
            env_vars=body.env_vars,
            metadata=body.metadata,
            timeout_seconds=timeout,
            allow_internet_access=(
                True if body.allow_internet_access is None else body.allow_internet_access
            ),
            envd_access_token=ids.envd_access_token(),
            auto_pause=body.auto_pause,
            auto_resume=auto_resume,
            auto_pause_memory=body.auto_pause_memory is not False,
            snapshot_id=snapshot.id if snapshot else "",
        )
    await publish(ctx, node, sandbox)
    # Bookkeeping is off the create's path: the user waits for the sandbox, not for it.
    _background(
        *([ctx.store.record_spawn(template.id)] if template else []),
        ctx.store.record_event(sandbox.sandbox_id, team.id, "created", {"node": node.id}),
    )
    log.info("sandbox created", sandbox_id=sandbox.sandbox_id, team=team.id, node=node.id)
    return out(ctx, node, sandbox, template.id if template else body.template_id)


async def find_snapshot(ctx: ApiContext, team: TeamRecord, ref: str) -> SnapshotRecord | None:
    """The team's snapshot with this id, else the newest carrying this name."""
    found = await ctx.store.get_snapshot(team.id, ref)
    if found is None:
        named = await ctx.store.list_snapshots(team.id, name=ref, limit=1)
        found = named[0] if named else None
    return found if found is not None and found.env_id is not None else None


async def node_for(ctx: ApiContext, preferred: str | None) -> Node:
    """The node that has a snapshot cached, when it is still there; else placement's pick
    (every node fetches snapshots from the artifact store)."""
    node = ctx.nodes.node(preferred) if preferred else None
    return node if node is not None else await ctx.placement.pick()


@asynccontextmanager
async def admitted(ctx: ApiContext, team: TeamRecord, count: int) -> AsyncIterator[None]:
    """Room for `count` more running sandboxes of the team, held while they are created."""
    _creating[team.id] += count
    try:
        running = [s for _, s in await list_all(ctx.nodes, team.id) if s.state == "running"]
        if len(running) + _creating[team.id] > team.max_concurrent_sandboxes:
            raise TooManyRequests(
                f"you have reached the maximum number of concurrent sandboxes "
                f"({team.max_concurrent_sandboxes}) for your team"
            )
        yield
    finally:
        _creating[team.id] -= count


def _check_resources(team: TeamRecord, template: TemplateRecord) -> None:
    if template.vcpu > team.max_vcpu or template.memory_mb > team.max_memory_mb:
        raise BadRequest(
            f"template '{template.id}' needs {template.vcpu} vCPU and {template.memory_mb} MB;"
            f" your team may use at most {team.max_vcpu} vCPU and {team.max_memory_mb} MB"
        )


def lifetime(ctx: ApiContext, team: TeamRecord, requested: int | None) -> int:
    timeout = ctx.settings.default_timeout if requested is None else requested
    if timeout > team.max_lifetime_s:
        raise BadRequest(
            f"timeout {timeout}s is longer than your team's maximum of {team.max_lifetime_s}s"
        )
    return max(timeout, 1)


async def find(ctx: ApiContext, team: TeamRecord, sandbox_id: str) -> tuple[Node, Sandbox]:
    if not SANDBOX_ID.fullmatch(sandbox_id):
        # No node could hold it: not worth a round of gRPC calls (nor their warnings).
        raise NotFound(f"sandbox {sandbox_id} not found")
    route = await ctx.catalog.get(sandbox_id)
    found = await locate(ctx.nodes, sandbox_id, route.node_id if route else None)
    if found is None or found[1].team_id != team.id:
        raise NotFound(f"sandbox {sandbox_id} not found")
    if route != route_of(*found):
        await publish(ctx, *found)
    return found


def route_of(node: Node, sandbox: Sandbox) -> Route:
    return Route(
        sandbox_id=sandbox.sandbox_id,
        address=sandbox.address,
        node_id=node.id,
        state=sandbox.state,
    )


async def publish(ctx: ApiContext, node: Node, sandbox: Sandbox) -> Route:
    """Tell the proxy where a sandbox is reached (or that it is paused)."""
    route = route_of(node, sandbox)
    await ctx.catalog.put(route)
    return route


async def resume(
    ctx: ApiContext, node: Node, sandbox: Sandbox, seconds: int, *, by: str
) -> Sandbox:
    """Bring a paused sandbox back for `seconds` and route to it: what `connect` does, and
    what traffic does to a sandbox with auto-resume (`by` says which, in its history)."""
    resumed = await node.client.resume(sandbox.sandbox_id, timeout_seconds=max(seconds, 1))
    await publish(ctx, node, resumed)
    _background(ctx.store.record_event(sandbox.sandbox_id, sandbox.team_id, "resumed", {"by": by}))
    log.info("sandbox resumed", sandbox_id=sandbox.sandbox_id, by=by)
    return resumed


async def adopt(
    ctx: ApiContext, team: TeamRecord, sandbox_id: str, seconds: int
) -> tuple[Node, Sandbox]:
    """Resume, on a node placement picks, a sandbox paused on a node that is no more: the
    node finds the pause in the artifact store (and that it is this team's) or says 404."""
    if not SANDBOX_ID.fullmatch(sandbox_id):
        raise NotFound(f"sandbox {sandbox_id} not found")
    node = await ctx.placement.pick()
    try:
        resumed = await node.client.resume(
            sandbox_id, timeout_seconds=max(seconds, 1), team_id=team.id
        )
    except NodeSandboxNotFound:
        raise NotFound(f"sandbox {sandbox_id} not found") from None
    await publish(ctx, node, resumed)
    _background(ctx.store.record_event(sandbox_id, team.id, "resumed", {"by": "adoption"}))
    log.info("paused sandbox resumed on another node", sandbox_id=sandbox_id, node=node.id)
    return node, resumed


async def set_timeout(ctx: ApiContext, team: TeamRecord, sandbox_id: str, seconds: int) -> None:
    node, _ = await find(ctx, team, sandbox_id)
    await node.client.set_timeout(sandbox_id, timeout_seconds=lifetime(ctx, team, seconds))


async def refresh(ctx: ApiContext, team: TeamRecord, sandbox_id: str, seconds: int) -> None:
    """Keep a sandbox alive `seconds` more from now, never shortening it (legacy refreshes)."""
    node, sandbox = await find(ctx, team, sandbox_id)
    wanted = datetime.now(UTC) + timedelta(seconds=seconds)
    if wanted > sandbox.end_time:
        await node.client.set_timeout(sandbox_id, end_time=wanted)


async def kill(ctx: ApiContext, team: TeamRecord, sandbox_id: str) -> None:
    node, _ = await find(ctx, team, sandbox_id)
    await node.client.delete(sandbox_id)
    await ctx.catalog.delete(sandbox_id)
    await ctx.store.record_event(sandbox_id, team.id, "killed")


def out(
    ctx: ApiContext, node: Node, sandbox: Sandbox, template_id: str | None = None
) -> SandboxOut:
    return SandboxOut(
        template_id=template_id or sandbox.template_id,
        sandbox_id=sandbox.sandbox_id,
        client_id=node.id,
        envd_version=sandbox.envd_version,
        envd_access_token=sandbox.envd_access_token,
        domain=ctx.settings.domain,
    )


def listed(node: Node, sandbox: Sandbox) -> ListedSandbox:
    return ListedSandbox(
        template_id=sandbox.template_id,
        sandbox_id=sandbox.sandbox_id,
        client_id=node.id,
        started_at=sandbox.start_time,
        end_at=sandbox.end_time,
        cpu_count=sandbox.vcpu,
        memory_mb=sandbox.memory_mb,
        disk_size_mb=sandbox.disk_mb,
        state=sandbox.state,
        envd_version=sandbox.envd_version,
        metadata=sandbox.metadata,
    )


def detail(ctx: ApiContext, node: Node, sandbox: Sandbox) -> SandboxDetail:
    return SandboxDetail(
        **listed(node, sandbox).model_dump(),
        envd_access_token=sandbox.envd_access_token,
        allow_internet_access=sandbox.allow_internet_access,
        domain=ctx.settings.domain,
        lifecycle=Lifecycle(
            auto_resume=sandbox.auto_resume,
            on_timeout="pause" if sandbox.auto_pause else "kill",
        ),
        pause_mode=_pause_mode(sandbox),
    )


def _pause_mode(sandbox: Sandbox) -> Literal["full", "filesystem"] | None:
    if sandbox.state == "paused":
        return "full" if sandbox.paused_memory else "filesystem"
    if sandbox.auto_pause:
        return "full" if sandbox.auto_pause_memory else "filesystem"
    return None
