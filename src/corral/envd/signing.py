"""Who may use `/files`: the access token, or a URL signed with it (wire protocol 3.6).

`/files` is exempt from the blanket `X-Access-Token` check in `app.py` because
`sbx.download_url()` / `sbx.upload_url()` hand out links for third parties (a browser, `curl`)
that cannot send headers. Such a link carries
`signature = "v1_" + base64(sha256("<path>:<read|write>:<username>:<token>[:<expiration>]"))`
with no padding, and optionally `signature_expiration` (Unix seconds). As in E2B's envd:

* without a configured token, everything is allowed;
* a header token, when sent, decides alone (a wrong one is a 401 even with a good signature);
* otherwise the signature must match the raw `path` and `username` query values (`""` when
  absent) and must not be expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal

from starlette.requests import Request

from corral.envd.auth import ACCESS_TOKEN_HEADER
from corral.envd.errors import Unauthenticated
from corral.envd.httputil import header, query, query_int
from corral.envd.state import EnvdState

Operation = Literal["read", "write"]
READ: Operation = "read"
WRITE: Operation = "write"


def signature(
    path: str, operation: Operation, username: str, token: str, expiration: int | None = None
) -> str:
    """The v1 signature of a file URL, byte for byte as the SDK's `get_signature` makes it."""
    fields = [path, operation, username, token]
    if expiration is not None:
        fields.append(str(expiration))
    digest = hashlib.sha256(":".join(fields).encode("utf-8")).digest()
    return "v1_" + base64.b64encode(digest).rstrip(b"=").decode("ascii")


def authorize(request: Request, state: EnvdState, operation: Operation) -> None:
    """Raise Unauthenticated unless `request` may `operation` the file it names.

    A malformed `signature_expiration` is a 400 (raised by `query_int`) before any check, as
    oapi-codegen rejects it while binding parameters.
    """
    expiration = query_int(request, "signature_expiration")
    token = state.access_token
    if token is None:
        return
    presented = header(request, ACCESS_TOKEN_HEADER)
    if presented is not None:
        if not state.token_matches(presented):
            raise Unauthenticated("access token present in header but does not match")
        return
    sent = query(request, "signature")
    if sent is None:
        raise Unauthenticated("missing signature query parameter")
    expected = signature(
        query(request, "path") or "", operation, query(request, "username") or "", token, expiration
    )
    if not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace")):
        raise Unauthenticated("invalid signature")
    if expiration is not None and expiration < int(time.time()):
        raise Unauthenticated("signature is already expired")
