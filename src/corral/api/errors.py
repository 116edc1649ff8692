"""The control plane's exception tree and its one mapping to E2B's `{"code", "message"}` body.

Routes raise these (or let orchestrator errors through); `install` registers the handlers that
turn them, FastAPI's validation errors and unknown routes into the JSON shape every SDK error
path parses (wire protocol 2.2 `Error`, 2.3 mapping).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from corral import logs
from corral.orchestrator import errors as node

log = logs.get("api.errors")


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class TooManyRequests(ApiError):
    status = 429


class Unavailable(ApiError):
    status = 503


_NODE_ERRORS: dict[type[node.OrchestratorError], type[ApiError]] = {
    node.InvalidRequest: BadRequest,
    node.SandboxNotFound: NotFound,
    node.TemplateNotFound: NotFound,
    node.SnapshotNotFound: NotFound,
    node.SandboxExists: Conflict,
    node.StateConflict: Conflict,
    node.CapacityExhausted: TooManyRequests,
    node.SandboxNotReady: Unavailable,
    node.NodeUnavailable: Unavailable,
}


def from_node(exc: node.OrchestratorError) -> ApiError:
    """An orchestrator's error as the API reports it."""
    for kind, api_kind in _NODE_ERRORS.items():
        if isinstance(exc, kind):
            return api_kind(str(exc))
    return ApiError(f"internal error: {exc}")


def allowed_methods(request: Request) -> str:
    """The methods of the first documented path this request's path matches.

    Starlette's 405 names the methods of one route only, and GET and POST of a path are two
    routes; `/openapi.json` lists them together, in routing order.
    """
    paths: dict[str, dict[str, object]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            methods = {method.upper() for method in operations}
            if "GET" in methods:
                methods.add("HEAD")
            return ", ".join(sorted(methods))
    return ""


def body(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        response = body(exc.status, exc.message)
        response.headers.update(exc.headers)
        if exc.status >= 500:
            # Creating twice is not safe to retry blindly; the SDK retries 502-504 otherwise.
            response.headers.setdefault("Should-Retry", "false")
        return response

    @app.exception_handler(node.OrchestratorError)
    async def _node_error(request: Request, exc: node.OrchestratorError) -> JSONResponse:
        api = from_node(exc)
        if api.status >= 500:
            log.error("node call failed", path=request.url.path, error=str(exc))
        return await _api_error(request, api)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        return body(400, f"invalid request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = body(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return body(500, "internal server error")
