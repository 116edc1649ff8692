"""Teams and their API keys (`GET /teams`, `/api-keys`): keys are shown once, stored hashed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from corral.api.db.records import ApiKeyRecord
from corral.api.deps import Ctx, Team
from corral.api.errors import NotFound
from corral.api.routes.sandboxes import ERRORS, LIST_ERRORS
from corral.api.schemas import (
    ApiKeyMask,
    CreatedApiKey,
    NewApiKey,
    TeamApiKey,
    TeamOut,
    UpdateApiKey,
)

router = APIRouter(tags=["teams"])

KEY_PREFIX = "e2b_"


def _mask(key: ApiKeyRecord) -> ApiKeyMask:
    shown = key.key_mask.removeprefix(KEY_PREFIX)
    head, _, tail = shown.partition("…")
    return ApiKeyMask(
        prefix=KEY_PREFIX,
        value_length=40,
        masked_value_prefix=head,
        masked_value_suffix=tail,
    )


def _key_out(key: ApiKeyRecord) -> TeamApiKey:
    return TeamApiKey(
        id=key.id,
        name=key.name,
        mask=_mask(key),
        created_at=key.created_at,
        last_used=key.last_used_at,
    )


@router.get("/teams", response_model=list[TeamOut], responses=LIST_ERRORS)
async def teams(team: Team) -> list[TeamOut]:
    """With an API key, the team it belongs to."""
    return [TeamOut(team_id=team.id, name=team.name)]


@router.get("/api-keys", response_model=list[TeamApiKey], responses=LIST_ERRORS)
async def list_keys(ctx: Ctx, team: Team) -> list[TeamApiKey]:
    return [_key_out(k) for k in await ctx.store.list_api_keys(team.id)]


@router.post("/api-keys", status_code=201, response_model=CreatedApiKey, responses=LIST_ERRORS)
async def create_key(ctx: Ctx, team: Team, body: NewApiKey) -> CreatedApiKey:
    """The raw key is in this answer only; Corral keeps its hash."""
    record, raw = await ctx.store.create_api_key(team.id, body.name)
    return CreatedApiKey(**_key_out(record).model_dump(), key=raw)


@router.patch("/api-keys/{key_id}", status_code=202, responses=ERRORS)
async def rename_key(ctx: Ctx, team: Team, key_id: str, body: UpdateApiKey) -> Response:
    if not await ctx.store.rename_api_key(team.id, key_id, body.name):
        raise NotFound(f"API key {key_id} not found")
    return Response(status_code=202)


@router.delete("/api-keys/{key_id}", status_code=204, responses=ERRORS)
async def delete_key(ctx: Ctx, team: Team, key_id: str) -> Response:
    if not await ctx.store.delete_api_key(team.id, key_id):
        raise NotFound(f"API key {key_id} not found")
    ctx.forget_keys()
    return Response(status_code=204)
