"""Who a request acts as, and whether it may act at all.

* `X-Access-Token` must match the token set through `/init` on every route except those E2B
  leaves open: `GET /health`, `/files` (which accept a signed URL instead) and `/init` itself,
  which checks the token on its own (wire protocol 3.6).
* The user comes from `Authorization: Basic base64("<user>:")` on RPCs and `?username=` on
  `/files`; without either, the sandbox's default user.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from corral.envd.errors import InvalidArgument, Unauthenticated

if TYPE_CHECKING:
    from connectrpc.request import Headers

ACCESS_TOKEN_HEADER = "x-access-token"  # noqa: S105 (a header name)
UNPROTECTED_PATHS = frozenset({"/health", "/files", "/init"})


def basic_auth_user(headers: Headers) -> str | None:
    """The user named by an `Authorization: Basic` header, or None when there is none."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthenticated(f"unsupported authorization scheme '{scheme}'")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("malformed basic authorization header") from None
    username = decoded.partition(":")[0]
    return username or None
