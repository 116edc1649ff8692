"""The orchestrator's exception tree, and the one place it meets gRPC status codes.

Every layer raises these (or the driver's `corral.runtime.errors`); the service turns them into
a status with `status_for`, and the client turns a status back into the same class with
`error_for`, so the control plane catches `SandboxNotFound` rather than comparing codes.
"""

from __future__ import annotations

import grpc

from corral.runtime import errors as runtime


class OrchestratorError(Exception):
    """Base of every error the orchestrator reports."""


class InvalidRequest(OrchestratorError):
    """A field is malformed or out of range."""


class SandboxNotFound(OrchestratorError):
    """No sandbox with that id on this node."""


class TemplateNotFound(OrchestratorError):
    """The template is unknown to this node."""


class SandboxExists(OrchestratorError):
    """A sandbox with that id exists or is being created."""


class StateConflict(OrchestratorError):
    """The operation does not fit the sandbox's state (pausing a paused sandbox, …)."""


class CapacityExhausted(OrchestratorError):
    """The node has no room for another sandbox."""


class SandboxNotReady(OrchestratorError):
    """envd did not answer in time, or refused its configuration: the sandbox was torn down."""


class Unauthenticated(OrchestratorError):
    """The caller did not present the node's secret."""


class NodeUnavailable(OrchestratorError):
    """The node cannot be reached or is shutting down."""


class BuildNotFound(OrchestratorError):
    """No template build with that id on this node."""


class SnapshotNotFound(OrchestratorError):
    """No snapshot with that id on this node or in the artifact store."""


class BuilderUnavailable(OrchestratorError):
    """This node cannot build templates (no buildah)."""


class InternalError(OrchestratorError):
    """Anything else: a host command failed, a bug."""


_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (SandboxNotFound, grpc.StatusCode.NOT_FOUND),
    (TemplateNotFound, grpc.StatusCode.NOT_FOUND),
    (BuildNotFound, grpc.StatusCode.NOT_FOUND),
    (SnapshotNotFound, grpc.StatusCode.NOT_FOUND),
    (BuilderUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (SandboxExists, grpc.StatusCode.ALREADY_EXISTS),
    (StateConflict, grpc.StatusCode.FAILED_PRECONDITION),
    (CapacityExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (SandboxNotReady, grpc.StatusCode.UNAVAILABLE),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NodeUnavailable, grpc.StatusCode.UNAVAILABLE),
    (runtime.SandboxNotFound, grpc.StatusCode.NOT_FOUND),
    (runtime.SandboxStateError, grpc.StatusCode.FAILED_PRECONDITION),
    (runtime.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
)

_ERRORS: dict[grpc.StatusCode, type[OrchestratorError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.NOT_FOUND: SandboxNotFound,
    grpc.StatusCode.ALREADY_EXISTS: SandboxExists,
    grpc.StatusCode.FAILED_PRECONDITION: StateConflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: CapacityExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: NodeUnavailable,
}

ERROR_KEY = "corral-error"
"""Trailing metadata naming the exact class, so the client tells apart errors sharing a code."""

_BY_NAME: dict[str, type[OrchestratorError]] = {
    cls.__name__: cls
    for cls in (
        InvalidRequest,
        SandboxNotFound,
        TemplateNotFound,
        BuildNotFound,
        SnapshotNotFound,
        BuilderUnavailable,
        SandboxExists,
        StateConflict,
        CapacityExhausted,
        SandboxNotReady,
        NodeUnavailable,
    )
}


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """The status code, message and error name a handler answers for `exc`.

    Driver errors keep their code but are named after the orchestrator class they stand for;
    anything unknown is INTERNAL.
    """
    for cls, code in _CODES:
        if isinstance(exc, cls):
            name = cls.__name__ if cls.__name__ in _BY_NAME else _ERRORS[code].__name__
            return code, str(exc) or cls.__name__, name
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}", InternalError.__name__


def error_for(code: grpc.StatusCode, details: str | None, name: str | None) -> OrchestratorError:
    """The exception a client raises for a failed call: the inverse of `status_for`."""
    message = details or code.name
    known = _BY_NAME.get(name or "")
    if known is not None:
        return known(message)
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return NodeUnavailable(message)
    return _ERRORS.get(code, InternalError)(message)
