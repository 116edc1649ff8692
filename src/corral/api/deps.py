"""Typed dependencies: a route names `Ctx` or `Team` and gets it, authenticated and rate-limited.

Authentication fails once, here: a missing or unknown `X-API-KEY` is a 401 in E2B's shape
before any handler runs; a team over its request rate gets a 429 with `Retry-After`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from corral.api.context import ApiContext
from corral.api.db.records import TeamRecord
from corral.api.errors import TooManyRequests, Unauthorized
from corral.api.ratelimit import retry_after


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


async def current_team(
    ctx: Ctx, x_api_key: Annotated[str | None, Header(alias="X-API-KEY")] = None
) -> TeamRecord:
    if not x_api_key:
        raise Unauthorized("missing API key: set the X-API-KEY header (E2B_API_KEY)")
    team = await ctx.team_for_key(x_api_key)
    if team is None:
        raise Unauthorized("invalid API key")
    wait = ctx.limiter.allow(team.id, team.rate_limit_per_s, team.rate_limit_burst)
    if wait > 0:
        raise TooManyRequests(
            f"rate limit of {team.rate_limit_per_s:g} requests/s exceeded",
            headers={"Retry-After": retry_after(wait)},
        )
    return team


Team = Annotated[TeamRecord, Depends(current_team)]
