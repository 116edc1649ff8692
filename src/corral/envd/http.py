"""envd's plain HTTP endpoints (wire protocol 3.5), next to the Connect services in `app.py`.

| Route         | Who calls it                      | Handler                     |
|---------------|-----------------------------------|-----------------------------|
| `GET /health` | SDK (`is_running`, error probes)  | `app.py` (and here): 204    |
| `GET /files`  | SDK `files.read`, `download_url`  | `files_download.get_files`  |
| `POST /files` | SDK `files.write*`, `upload_url`  | `files_upload.post_files`   |
| `POST /init`  | orchestrator                      | `initialize.post_init`      |
| `GET /envs`   | orchestrator                      | here: env vars from `/init` |
| `GET /metrics`| orchestrator                      | here: `metrics.Metrics`     |
| `POST /snapshot/prepare` | orchestrator, before a checkpoint | `quiesce.py`     |

The `/files` handlers are imported on their first request (gzip, multipart, signing: memory
and start time that sandboxes which never transfer a file need not pay).

The access token is enforced in `app.py` for `/envs` and `/metrics`; `/files` accepts a signed
URL instead (`signing.py`) and `/init` checks on its own. Every error is E2B's JSON
`{"code": <status>, "message"}`; the SDK maps the status to its exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from corral.envd import logs
from corral.envd.errors import EnvdError, from_os_error
from corral.envd.httputil import envd_error_response, error_response
from corral.envd.initialize import post_init
from corral.envd.metrics import Metrics
from corral.envd.quiesce import CONNECTIONS
from corral.envd.state import EnvdState

log = logs.get("envd.http")

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class HttpApp:
    """Exact-path, per-method routing with errors turned into responses by exception type.

    Starlette's `Request` and `Response` do the HTTP work; its application and router are not
    used: for six fixed paths, their middleware stack and path compiler cost more memory
    (about 0.75 MB in every envd) than this class.
    """

    def __init__(
        self,
        routes: dict[str, dict[str, Endpoint]],
        errors: dict[type[Exception], ErrorHandler],
    ) -> None:
        self._routes = routes
        self._errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self._endpoint(scope)(request)
        except Exception as exc:
            handler = next((self._errors[t] for t in type(exc).__mro__ if t in self._errors), None)
            if handler is None:
                raise  # uvicorn answers 500 and logs it
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _endpoint(self, scope: Scope) -> Endpoint:
        methods = self._routes.get(scope["path"])
        if methods is None:
            raise HTTPException(404)
        method = scope["method"]
        endpoint = methods.get("GET" if method == "HEAD" else method)
        if endpoint is None:
            allowed = ["HEAD", *methods] if "GET" in methods else list(methods)
            raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
        return endpoint


def build_http_app(state: EnvdState, after_init: Callable[[], object]) -> HttpApp:
    """The HTTP endpoints; `after_init` runs once each successful `/init` has been answered."""
    metrics = Metrics()

    async def run_after_init() -> None:
        after_init()

    async def get_files(request: Request) -> Response:
        from corral.envd.files_download import get_files

        return await get_files(request, state)

    async def post_files(request: Request) -> Response:
        from corral.envd.files_upload import post_files

        return await post_files(request, state)

    async def init(request: Request) -> Response:
        response = await post_init(request, state)
        if response.status_code == 204:
            response.background = BackgroundTask(run_after_init)
        return response

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

    return HttpApp(
        routes={
            "/health": {"GET": health},
            "/files": {"GET": get_files, "POST": post_files},
            "/init": {"POST": init},
            "/envs": {"GET": envs},
            "/metrics": {"GET": get_metrics},
            "/snapshot/prepare": {"POST": prepare_snapshot},
        },
        errors={
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
