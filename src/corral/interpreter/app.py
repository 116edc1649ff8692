"""The interpreter's HTTP endpoints, as `e2b-code-interpreter` calls them (wire doc, section 5).

| endpoint | SDK call |
|---|---|
| `POST /execute` | `run_code`: NDJSON stream (`stream.py`) |
| `POST /contexts` | `create_code_context` → `{"id", "language", "cwd"}` |
| `GET /contexts` | `list_code_contexts` → array of the same |
| `POST /contexts/{id}/restart` | `restart_code_context` |
| `DELETE /contexts/{id}` | `remove_code_context` |
| `GET /health` | nobody in the SDK; a template's ready check |

The server listens only once the default contexts' kernels answer (uvicorn binds after the
lifespan startup), so a sandbox is never handed out with a cold interpreter and `/health`
needs no "starting" state. Errors are E2B's `{"code", "message"}` bodies, mapped here alone.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from corral import logs
from corral.interpreter import languages
from corral.interpreter.context import CodeContext
from corral.interpreter.contexts import Contexts
from corral.interpreter.errors import InterpreterError, InvalidRequest, Unauthorized
from corral.interpreter.settings import Settings
from corral.interpreter.stream import LineStream, execution_chunks

log = logs.get("interpreter.app")

ACCESS_TOKEN_HEADER = "x-access-token"  # noqa: S105 (a header name)


def build_app(settings: Settings) -> Starlette:
    contexts = Contexts(settings)

    def check_token(request: Request, *, required: bool) -> str | None:
        """`X-Access-Token`, checked when we have one: the SDK sends it to `/execute` only."""
        token = request.headers.get(ACCESS_TOKEN_HEADER)
        expected = settings.access_token
        if expected is None:
            return token
        if token is None and not required:
            return None
        if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Unauthorized("invalid or missing X-Access-Token")
        return token

    async def health(_: Request) -> Response:
        return JSONResponse("OK")

    async def execute(request: Request) -> LineStream:
        token = check_token(request, required=True)
        body = await _json_object(request)
        code = body.get("code")
        if not isinstance(code, str):
            raise InvalidRequest("'code' must be a string")
        context_id = _optional_str(body, "context_id")
        language = _optional_str(body, "language")
        env = body.get("env_vars") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise InvalidRequest("'env_vars' must map strings to strings")
        if context_id and language:
            raise InvalidRequest("Only one of context_id or language can be provided")
        context: CodeContext
        if context_id:
            context = contexts.get(context_id)
        else:
            context = await contexts.default(languages.normalize(language))
        run = context.run(code, env, token)
        try:
            execution = await run.started
        except BaseException:
            context.abandon(run)
            raise
        return LineStream(execution_chunks(execution), lambda: context.abandon(run))

    async def create_context(request: Request) -> Response:
        check_token(request, required=False)
        body = await _json_object(request)
        context = await contexts.create(_optional_str(body, "language"), _optional_str(body, "cwd"))
        return JSONResponse(context.describe())

    async def list_contexts(request: Request) -> Response:
        check_token(request, required=False)
        return JSONResponse([context.describe() for context in contexts.all()])

    async def restart_context(request: Request) -> Response:
        check_token(request, required=False)
        await contexts.get(request.path_params["context_id"]).restart()
        return JSONResponse(None)

    async def remove_context(request: Request) -> Response:
        check_token(request, required=False)
        await contexts.remove(request.path_params["context_id"])
        return JSONResponse(None)

    async def on_error(_: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, InterpreterError) else 500
        if isinstance(exc, HTTPException):
            status = exc.status_code
            return JSONResponse({"code": status, "message": exc.detail}, status_code=status)
        if status >= 500:
            log.error("request failed", error=str(exc))
        return JSONResponse({"code": status, "message": str(exc)}, status_code=status)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            await contexts.start_defaults()
            log.info("interpreter ready", languages=list(settings.start_languages))
            yield
        finally:
            await contexts.close()

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/execute", execute, methods=["POST"]),
            Route("/contexts", create_context, methods=["POST"]),
            Route("/contexts", list_contexts, methods=["GET"]),
            Route("/contexts/{context_id}/restart", restart_context, methods=["POST"]),
            Route("/contexts/{context_id}", remove_context, methods=["DELETE"]),
        ],
        exception_handlers={InterpreterError: on_error, HTTPException: on_error},
        lifespan=lifespan,
    )


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key!r} must be a string")
    return value
