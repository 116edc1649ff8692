"""envd's exception tree, mapped to Connect codes (RPC) and HTTP statuses (/files) in one place.

Handlers raise these; `rpc_errors.connect_error()` turns them into `ConnectError` for the RPC
services and `status` is the HTTP status of E2B's `{"code", "message"}` error body. Only
`connectrpc.code` is imported here (an enum): the HTTP endpoints use this module too, and
envd loads the rest of connectrpc (and protobuf) with its first RPC service (`app.py`).
"""

from __future__ import annotations

import errno

from connectrpc.code import Code


class EnvdError(Exception):
    """Base of every error envd reports to a client."""

    code: Code = Code.INTERNAL
    status: int = 500


class InvalidArgument(EnvdError):
    code, status = Code.INVALID_ARGUMENT, 400


class Unauthenticated(EnvdError):
    code, status = Code.UNAUTHENTICATED, 401


class PermissionDenied(EnvdError):
    code, status = Code.PERMISSION_DENIED, 403


class NotFound(EnvdError):
    code, status = Code.NOT_FOUND, 404


class AlreadyExists(EnvdError):
    code, status = Code.ALREADY_EXISTS, 409


class NotEnoughSpace(EnvdError):
    code, status = Code.RESOURCE_EXHAUSTED, 507


class FailedPrecondition(EnvdError):
    code, status = Code.FAILED_PRECONDITION, 412


class Internal(EnvdError):
    code, status = Code.INTERNAL, 500


_ERRNO_ERRORS: dict[int, type[EnvdError]] = {
    errno.ENOENT: NotFound,
    errno.ENOTDIR: InvalidArgument,
    errno.EISDIR: InvalidArgument,
    errno.EEXIST: AlreadyExists,
    errno.ENOTEMPTY: InvalidArgument,
    errno.EACCES: PermissionDenied,
    errno.EPERM: PermissionDenied,
    errno.EROFS: PermissionDenied,
    errno.ENOSPC: NotEnoughSpace,
    errno.EDQUOT: NotEnoughSpace,
    errno.ENAMETOOLONG: InvalidArgument,
    errno.ELOOP: InvalidArgument,
    errno.EINVAL: InvalidArgument,
    errno.EXDEV: InvalidArgument,
}


def from_os_error(exc: OSError, what: str) -> EnvdError:
    """The most specific envd error for an OSError on `what` (a path or an action)."""
    cls = _ERRNO_ERRORS.get(exc.errno or 0, Internal)
    reason = exc.strerror or str(exc)
    return cls(f"{what}: {reason.lower()}")
