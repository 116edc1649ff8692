"""The one place where envd RPC handlers' exceptions become Connect errors.

Handlers raise `EnvdError`s (or let an `OSError` escape); this interceptor turns them into
`ConnectError`s with the codes the SDK maps to its exceptions (wire protocol 3.1), so that a
bad request never surfaces as an `internal` error or a crashed connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.codec import Codec, proto_binary_codec, proto_json_codec
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from corral.envd import logs
from corral.envd.errors import EnvdError, Internal, from_os_error

REQ = TypeVar("REQ")
RES = TypeVar("RES")

log = logs.get("envd.rpc")


def connect_error(exc: EnvdError) -> ConnectError:
    """The Connect error the SDK maps back to its exceptions (wire protocol 3.1)."""
    return ConnectError(exc.code, str(exc))


def _translate(exc: Exception, ctx: RequestContext[Any, Any]) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, EnvdError):
        return connect_error(exc)
    if isinstance(exc, OSError):
        return connect_error(from_os_error(exc, ctx.method.name))
    log.exception("unexpected error", method=ctx.method.name)
    return connect_error(Internal(f"{type(exc).__name__}: {exc}"))


class ErrorMapping:
    """Connect interceptor for every RPC kind envd serves."""

    async def intercept_unary(
        self,
        call_next: Callable[[REQ, RequestContext[Any, Any]], Awaitable[RES]],
        request: REQ,
        ctx: RequestContext[Any, Any],
        /,
    ) -> RES:
        try:
            return await call_next(request, ctx)
        except Exception as exc:
            raise _translate(exc, ctx) from exc

    async def intercept_client_stream(
        self,
        call_next: Callable[[AsyncIterator[REQ], RequestContext[Any, Any]], Awaitable[RES]],
        request: AsyncIterator[REQ],
        ctx: RequestContext[Any, Any],
        /,
    ) -> RES:
        try:
            return await call_next(request, ctx)
        except Exception as exc:
            raise _translate(exc, ctx) from exc

    async def intercept_server_stream(
        self,
        call_next: Callable[[REQ, RequestContext[Any, Any]], AsyncIterator[RES]],
        request: REQ,
        ctx: RequestContext[Any, Any],
        /,
    ) -> AsyncIterator[RES]:
        try:
            async for message in call_next(request, ctx):
                yield message
        except Exception as exc:
            raise _translate(exc, ctx) from exc


class _RejectingMalformed:
    """A codec that reports undecodable messages as `invalid_argument`, not as a crash.

    connectrpc lets a decoder's ValueError escape as an internal error with a traceback; a
    malformed request is the client's mistake and should read as one.
    """

    def __init__(self, inner: Codec[Any, Any]) -> None:
        self._inner = inner

    def name(self) -> str:
        return self._inner.name()

    def encode(self, message: Any) -> bytes:
        return self._inner.encode(message)

    def decode(self, data: bytes | bytearray, message_class: type[Any]) -> Any:
        try:
            return self._inner.decode(data, message_class)
        except Exception as exc:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"malformed {message_class.__name__}: {exc}"
            ) from exc


def codecs() -> list[Codec[Any, Any]]:
    """JSON (what the Python SDK speaks) and binary protobuf (connect-go, connect-es)."""
    return [_RejectingMalformed(proto_json_codec()), _RejectingMalformed(proto_binary_codec())]
