"""`POST /internal/sandboxes/{id}/wake`: auto-resume for proxies that run apart from the API.

`corral up` hands its proxy the API's wake in-process (`corral.up.wake_hook`); a standalone
`corral proxy` (a cluster, with the catalog in Redis) asks this route instead, as E2B's
client-proxy asks its API to resume. It is the same `autoresume.wake`, behind a secret shared
by the API and its proxies (`CORRAL_API_INTERNAL_SECRET` = `CORRAL_PROXY_API_SECRET`) rather
than a team's API key: the proxy acts for whoever sent the traffic, and the sandbox's own envd
token (checked by `wake`) is what that traffic proves.

Not part of E2B's API, so not in `/openapi.json`; mounted only when the secret is set, so an
API without one answers 404 here like for any unknown path.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import Field

from corral.api import autoresume
from corral.api.deps import Ctx
from corral.api.errors import NotFound, Unauthorized
from corral.api.schemas import Request, Wire
from corral.catalog.types import Route

router = APIRouter(include_in_schema=False)


def check_secret(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> None:
    """`Authorization: Bearer <internal secret>`, compared in constant time."""
    secret = ctx.settings.internal_secret
    if secret is None:
        raise NotFound("not found")
    scheme, _, given = (authorization or "").partition(" ")
    expected = secret.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise Unauthorized("missing or invalid internal secret (Authorization: Bearer …)")


class Wake(Request):
    """What the proxy knows of the request that found the sandbox paused."""

    node_id: str | None = Field(default=None, alias="nodeId")
    """The node of the paused route, when the catalog names one (saves asking every node)."""
    port: int = Field(ge=1, le=65535)
    access_token: str | None = Field(default=None, alias="accessToken")
    """The request's `X-Access-Token`; envd traffic wakes a sandbox only with its token."""


class Woken(Wire):
    """The sandbox's running route, as the proxy's catalog would hold it."""

    sandbox_id: str = Field(alias="sandboxId")
    address: str
    node_id: str = Field(alias="nodeId")
    state: str


@router.post(
    "/internal/sandboxes/{sandbox_id}/wake",
    dependencies=[Depends(check_secret)],
    response_model_by_alias=True,
)
async def wake(ctx: Ctx, sandbox_id: str, body: Wake) -> Woken:
    """200 with the running route; 404 when the sandbox is gone or does not auto-resume; 403
    (`Forbidden` from `autoresume.wake`) for envd traffic without the sandbox's token."""
    paused = Route(sandbox_id=sandbox_id, address="", node_id=body.node_id or "", state="paused")
    route = await autoresume.wake(ctx, paused, port=body.port, access_token=body.access_token)
    if route is None:
        raise NotFound(f"sandbox {sandbox_id} is not paused with auto-resume, or is gone")
    return Woken(
        sandbox_id=route.sandbox_id, address=route.address, node_id=route.node_id, state=route.state
    )
