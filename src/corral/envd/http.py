"""envd's plain HTTP endpoints (wire protocol 3.5), next to the Connect services in `app.py`.

| Route         | Who calls it                      | Handler                     |
|---------------|-----------------------------------|-----------------------------|
| `GET /health` | SDK (`is_running`, error probes)  | here: 204                   |
| `GET /files`  | SDK `files.read`, `download_url`  | `files_download.get_files`  |
| `POST /files` | SDK `files.write*`, `upload_url`  | `files_upload.post_files`   |
| `POST /init`  | orchestrator                      | `initialize.post_init`      |
| `GET /envs`   | orchestrator                      | here: env vars from `/init` |
| `GET /metrics`| orchestrator                      | here: `metrics.Metrics`     |
| `POST /snapshot/prepare` | orchestrator, before a checkpoint | `quiesce.py`     |

The access token is enforced in `app.py` for `/envs` and `/metrics`; `/files` accepts a signed
URL instead (`signing.py`) and `/init` checks on its own. Every error is E2B's JSON
`{"code": <status>, "message"}`; the SDK maps the status to its exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from corral import logs
from corral.envd.errors import EnvdError, from_os_error
from corral.envd.files_download import get_files
from corral.envd.files_upload import post_files
from corral.envd.httputil import envd_error_response, error_response
from corral.envd.initialize import post_init
from corral.envd.metrics import Metrics
from corral.envd.quiesce import CONNECTIONS
from corral.envd.state import EnvdState

log = logs.get("envd.http")

Handler = Callable[[Request, EnvdState], Awaitable[Response]]


def build_http_app(state: EnvdState) -> Starlette:
    metrics = Metrics()

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(request, state)

        return endpoint

    async def health(_: Request) -> Response:
        return Response(status_code=204, headers={"cache-control": "no-store"})

    async def envs(_: Request) -> Response:
        return JSONResponse(dict(state.env_vars), headers={"cache-control": "no-store"})

    async def get_metrics(_: Request) -> Response:
        return JSONResponse(metrics.collect(), headers={"cache-control": "no-store"})

    async def prepare_snapshot(request: Request) -> Response:
        client = request.client
        aborted = await CONNECTIONS.abort_all(
            keep_peer=(client.host, client.port) if client else None
        )
        log.info("connections dropped for a snapshot", aborted=aborted)
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/files", bind(get_files), methods=["GET"]),
            Route("/files", bind(post_files), methods=["POST"]),
            Route("/init", bind(post_init), methods=["POST"]),
            Route("/envs", envs, methods=["GET"]),
            Route("/metrics", get_metrics, methods=["GET"]),
            Route("/snapshot/prepare", prepare_snapshot, methods=["POST"]),
        ],
        exception_handlers={
            EnvdError: _envd_error,
            HTTPException: _http_error,
            OSError: _os_error,
            ClientDisconnect: _client_gone,
        },
    )


async def _envd_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, EnvdError)
    response = envd_error_response(exc)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


async def _http_error(_: Request, exc: Exception) -> Response:
    """Unknown routes and methods (Starlette's own errors) in the same JSON shape."""
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


async def _os_error(request: Request, exc: Exception) -> Response:
    """An OSError no handler anticipated: still a JSON error with the closest status."""
    assert isinstance(exc, OSError)
    log.warning("unexpected os error", path=request.url.path, error=repr(exc))
    return envd_error_response(from_os_error(exc, f"{request.method} {request.url.path}"))


async def _client_gone(_: Request, __: Exception) -> Response:
    """The client left mid-request: nobody reads this answer, and nothing needs logging."""
    return Response(status_code=499)
