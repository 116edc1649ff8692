"""Only the control plane may call the orchestrator: a shared secret, checked before any handler.

The secret travels as `authorization: Bearer <secret>` metadata and is compared in constant
time. The check is a server interceptor so that no RPC, present or future, can skip it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

AUTHORIZATION = "authorization"


def bearer_metadata(secret: str) -> tuple[tuple[str, str], ...]:
    """What a client sends with every call."""
    return ((AUTHORIZATION, f"Bearer {secret}"),)


async def _deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(
        grpc.StatusCode.UNAUTHENTICATED, "missing or wrong orchestrator secret (authorization)"
    )


_DENIED: grpc.RpcMethodHandler[Any, Any] = grpc.unary_unary_rpc_method_handler(_deny)


class SecretInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, secret: str) -> None:
        self._expected = f"Bearer {secret}".encode()

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if self._authorized(handler_call_details):
            return await continuation(handler_call_details)
        return _DENIED

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        presented = b""
        for key, value in details.invocation_metadata or ():
            if key == AUTHORIZATION:
                presented = value.encode() if isinstance(value, str) else value
        return hmac.compare_digest(presented, self._expected)
