"""Placeholder: envd's plain HTTP endpoints (being written)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.envd.state import EnvdState


def build_http_app(state: EnvdState) -> Starlette:
    async def health(_: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[Route("/health", health, methods=["GET"])])
