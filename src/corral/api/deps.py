"""Typed dependencies: a route names `Ctx` or `Team` and gets it, authenticated and rate-limited.

Authentication fails once, here: a missing or unknown `X-API-KEY` is a 401 in E2B's shape
before any handler runs; a team over its request rate gets a 429 with `Retry-After`. The key
is declared as E2B's `ApiKeyAuth` security scheme, so `/openapi.json` shows which routes
need it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from corral.api.context import ApiContext
from corral.api.db.records import TeamRecord
from corral.api.errors import TooManyRequests, Unauthorized
from corral.api.ratelimit import retry_after


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]

API_KEY = APIKeyHeader(
    name="X-API-KEY",
    scheme_name="ApiKeyAuth",
    description="A team API key (`E2B_API_KEY`).",
    auto_error=False,  # a missing key is our 401 in E2B's shape, not FastAPI's 403
)


async def current_team(
    ctx: Ctx, x_api_key: Annotated[str | None, Security(API_KEY)] = None
) -> TeamRecord:
    if not x_api_key:
        raise Unauthorized("missing API key: set the X-API-KEY header (E2B_API_KEY)")
    team = await ctx.team_for_key(x_api_key)
    if team is None:
        raise Unauthorized("invalid API key")
    wait = await ctx.limiter.allow(team.id, team.rate_limit_per_s, team.rate_limit_burst)
    if wait > 0:
        raise TooManyRequests(
            f"rate limit of {team.rate_limit_per_s:g} requests/s exceeded",
            headers={"Retry-After": retry_after(wait)},
        )
    return team


Team = Annotated[TeamRecord, Depends(current_team)]
