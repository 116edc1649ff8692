"""`POST /init`: the orchestrator hands envd its sandbox's settings (E2B envd's api/init.go).

Body (all keys optional): `envVars` (merged into the variables every new process gets),
`accessToken` (the token `X-Access-Token` and file signatures are checked against),
`defaultUser`, `defaultWorkdir`, `timestamp` (RFC 3339). Answer: 204.

Who may call it: anyone while no token is set (first-time setup); afterwards only a caller that
proves it knows the current token, in `X-Access-Token` or as the body's `accessToken` (E2B's
"same token" fast path). That caller may rotate the token (send the new one in the body) or
clear it (`"accessToken": null` or `""`); leaving the key out keeps the current token, so
pushing env vars alone never opens a sandbox up by accident.

Requests are applied only if newer than the last applied `timestamp`, so a retried, delayed one
cannot undo a later one. Unlike E2B's envd in its VM, we do not set the system clock from
`timestamp`: a container shares the host's clock and may not change it.

Everything is validated before anything is applied: a bad request changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectrpc.code import Code
from starlette.requests import Request
from starlette.responses import Response

from corral.envd.auth import ACCESS_TOKEN_HEADER
from corral.envd.errors import EnvdError, InvalidArgument, Unauthenticated
from corral.envd.httputil import BodyReader, envd_error_response, header
from corral.envd.state import EnvdState
from corral.envd.users import lookup

MAX_BODY = 1024 * 1024


class PayloadTooLarge(EnvdError):
    code, status = Code.RESOURCE_EXHAUSTED, 413


@dataclass
class InitRequest:
    env_vars: dict[str, str]
    set_token: bool
    """Whether `accessToken` was sent at all (absent keeps the current token)."""
    access_token: str | None
    default_user: str | None
    default_workdir: str | None
    timestamp: float | None


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidArgument(f"{key} must be a string")
    return value or None


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument("timestamp must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"timestamp is not RFC 3339: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON object of the body; an empty body is an empty request (as in E2B)."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"failed to decode request: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("failed to decode request: expected a JSON object")
    return body


def parse(body: dict[str, Any]) -> InitRequest:
    """The request, validated."""
    env_vars = body.get("envVars") or {}
    if not isinstance(env_vars, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in k + v
        for k, v in env_vars.items()
    ):
        raise InvalidArgument("envVars must map variable names to string values")
    token = body.get("accessToken")
    if token is not None and not isinstance(token, str):
        raise InvalidArgument("accessToken must be a string or null")
    default_user = _optional_str(body, "defaultUser")
    if default_user is not None:
        try:
            lookup(default_user)
        except Unauthenticated:
            raise InvalidArgument(f"defaultUser '{default_user}' does not exist") from None
    workdir = _optional_str(body, "defaultWorkdir")
    if workdir is not None and not workdir.startswith("/"):
        raise InvalidArgument(f"defaultWorkdir must be an absolute path, got {workdir!r}")
    return InitRequest(
        env_vars=env_vars,
        set_token="accessToken" in body,
        access_token=token or None,
        default_user=default_user,
        default_workdir=workdir,
        timestamp=_timestamp(body.get("timestamp")),
    )


def authorize(request: Request, state: EnvdState, body: dict[str, Any]) -> None:
    """First-time setup is open; after that the caller must know the current token.

    Checked before the body is validated, so a caller without the token learns nothing (such
    as which users exist) from the answer.
    """
    if state.access_token is None:
        return
    if state.token_matches(header(request, ACCESS_TOKEN_HEADER)):
        return
    token = body.get("accessToken")
    if isinstance(token, str) and state.token_matches(token):
        return
    raise Unauthenticated("access token validation failed")


def apply(state: EnvdState, init: InitRequest) -> None:
    if init.timestamp is not None:
        if state.init_timestamp is not None and init.timestamp <= state.init_timestamp:
            return  # an older request arriving late
        state.init_timestamp = init.timestamp
    state.env_vars.update(init.env_vars)
    if init.set_token:
        state.access_token = init.access_token
    if init.default_user is not None:
        state.default_user = init.default_user
    if init.default_workdir is not None:
        state.default_workdir = init.default_workdir


async def _read_body(reader: BodyReader) -> bytes:
    body = bytearray()
    async for chunk in reader.chunks():
        body += chunk
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"request body larger than {MAX_BODY} bytes")
    return bytes(body)


async def post_init(request: Request, state: EnvdState) -> Response:
    reader = BodyReader(request)
    try:
        raw = await _read_body(reader)
    except PayloadTooLarge as exc:
        return await reader.finish_early(envd_error_response(exc))
    body = decode(raw)
    authorize(request, state, body)
    apply(state, parse(body))
    return Response(status_code=204, headers={"cache-control": "no-store"})
