"""Auto-resume: traffic for a paused sandbox wakes it, when it was created with `autoResume`.

The proxy finds the sandbox paused in the routing catalog and asks the control plane to wake
it (`corral up` hands it `wake` through the proxy's `WakePaused` hook; a standalone proxy calls
the internal route of routes/internal.py); this is the control plane's half, the same resume
as the connect route. As in E2B (the API's `ResumeSandbox` for its
client-proxy):

- only a sandbox whose lifecycle says `autoResume` is woken; for any other the proxy answers
  that it is paused (the SDK's `SandboxNotRunningException`);
- traffic to envd's port wakes a sandbox only when it carries the sandbox's envd access token
  (what the SDK sends as `X-Access-Token` on every envd call): ids are not secrets;
- the sandbox gets the lifetime it was created with again, within the team's maximum (E2B also
  puts a floor of a minute under it, which Corral leaves out: tests use seconds).

A request that arrives while the sandbox is being resumed by someone else (connect, another
wake) finds it running and is simply routed to it.
"""

from __future__ import annotations

import hmac

from corral import logs
from corral.api import sandboxes
from corral.api.context import ApiContext
from corral.api.errors import Forbidden
from corral.api.nodes import Node, locate
from corral.catalog.types import Route
from corral.orchestrator.errors import StateConflict
from corral.orchestrator.wire import Sandbox

log = logs.get("api.autoresume")


async def wake(
    ctx: ApiContext, route: Route, *, port: int, access_token: str | None
) -> Route | None:
    """The running route of the paused sandbox of `route`, resumed if it has to be; None
    when it is gone or does not auto-resume. `Forbidden` for envd traffic without its token."""
    found = await locate(ctx.nodes, route.sandbox_id, route.node_id or None)
    if found is None:
        return None
    node, sandbox = found
    if sandbox.state == "running":
        return await sandboxes.publish(ctx, node, sandbox)
    if not sandbox.auto_resume:
        return None
    if port == sandbox.envd_port and not _token_matches(access_token, sandbox.envd_access_token):
        raise Forbidden(
            f"sandbox {sandbox.sandbox_id} is paused and may be resumed by traffic to envd"
            " only with its access token (X-Access-Token)"
        )
    seconds = await _lifetime(ctx, sandbox)
    try:
        resumed = await sandboxes.resume(ctx, node, sandbox, seconds, by="traffic")
    except StateConflict:
        return await _running_now(ctx, node, sandbox.sandbox_id)
    return sandboxes.route_of(node, resumed)


def _token_matches(given: str | None, expected: str | None) -> bool:
    if expected is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def _lifetime(ctx: ApiContext, sandbox: Sandbox) -> int:
    seconds = sandbox.timeout_seconds or ctx.settings.default_timeout
    team = await ctx.store.get_team(sandbox.team_id)
    if team is not None:
        seconds = min(seconds, team.max_lifetime_s)
    return seconds


async def _running_now(ctx: ApiContext, node: Node, sandbox_id: str) -> Route | None:
    """After a resume lost a race (someone else resumed it, or killed it)."""
    found = await locate(ctx.nodes, sandbox_id, node.id)
    if found is None or found[1].state != "running":
        return None
    return await sandboxes.publish(ctx, *found)
