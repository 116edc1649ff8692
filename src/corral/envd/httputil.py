"""Small helpers shared by envd's plain HTTP handlers.

E2B's envd (Go, oapi-codegen) answers every HTTP error with a JSON body `{"code": <status as an
int>, "message": "..."}`; the SDK shows `message` to users and maps the status to its exceptions
(wire protocol 3.5), so every error response here goes through `error_response`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from corral.envd.errors import EnvdError, InvalidArgument


def error_response(status: int, message: str) -> JSONResponse:
    """E2B's HTTP error shape: the status repeated as an int `code`, and a message."""
    return JSONResponse({"code": status, "message": message}, status_code=status)


def envd_error_response(exc: EnvdError) -> JSONResponse:
    return error_response(exc.status, str(exc))


def query(request: Request, name: str) -> str | None:
    """The first value of query parameter `name` (as Go's `url.Values.Get`), None if absent.

    Starlette's `.get` returns the last one; a signed URL must be checked against the same value
    the handler then uses, so both read it through here.
    """
    values = request.query_params.getlist(name)
    return values[0] if values else None


def query_int(request: Request, name: str) -> int | None:
    """An integer query parameter; a malformed one is a 400, as oapi-codegen's binding does."""
    raw = query(request, name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidArgument(
            f"Invalid format for parameter {name}: expected an integer, got {raw!r}"
        ) from None


def header(request: Request, name: str) -> str | None:
    """The first value of request header `name`; an empty value counts as absent (as in Go)."""
    value = request.headers.get(name)
    return value if value else None


DRAIN_LIMIT = 256 * 1024
"""How much of an unread request body is read and dropped before an early error response (as
Go's `net/http` does after one)."""


class BodyReader:
    """A request body read from the raw ASGI messages, remembering whether it was all read.

    A handler that answers with an error before the client finished sending (a wrong token, a
    bad path) should not leave a small rest unread: answering first makes the SDK now and then
    see a network error instead of the answer (uvicorn would drain it only after responding).
    A large rest is left to uvicorn, which reads and drops it after the response, so the
    client's upload still completes and it gets the answer.
    """

    def __init__(self, request: Request) -> None:
        self._receive = request.receive
        self.complete = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            self.complete = not message.get("more_body", False)
            body: bytes = message.get("body", b"")
            if body:
                yield body

    async def finish_early(self, response: Response) -> Response:
        """`response`, sent before the body was all read, after dropping up to DRAIN_LIMIT
        bytes of the rest."""
        seen = 0
        async for chunk in self.chunks():
            seen += len(chunk)
            if seen > DRAIN_LIMIT:
                break
        return response
