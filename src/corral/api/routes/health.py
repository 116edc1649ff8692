"""`GET /health`: the one route without an API key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from corral.api.openapi import errors

router = APIRouter(tags=["health"])


@router.get("/health", response_class=PlainTextResponse, responses=errors(400))
async def health() -> str:
    return "Health check successful"
