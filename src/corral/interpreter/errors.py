"""The interpreter's exception tree, mapped to E2B's `{"code", "message"}` bodies in `app.py`.

The SDK turns a 404 into `NotFoundException`, a 502 into `TimeoutException` and anything else
into `SandboxException("<status> <reason>: <body>")` (wire doc, section 5), so the status is
what matters to a caller and the message is what a person reads.
"""

from __future__ import annotations


class InterpreterError(Exception):
    """Base of every error the interpreter reports to a client."""

    status: int = 500


class InvalidRequest(InterpreterError):
    status = 400


class Unauthorized(InterpreterError):
    status = 401


class ContextNotFound(InterpreterError):
    status = 404


class KernelFailed(InterpreterError):
    """A kernel could not be started, or died and could not be brought back."""

    status = 500
