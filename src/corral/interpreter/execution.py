"""One `execute_request` in flight: what the kernel said about it, and when it was done.

A kernel answers a request on two sockets: iopub carries the outputs and the `busy`/`idle`
status, shell carries the `execute_reply`. The request is done when both the `idle` status and
the reply have arrived; waiting for `idle` alone could lose a reply that says the request was
aborted, and waiting for the reply alone could lose outputs still queued on iopub (ipykernel
sends the reply before its last iopub messages leave).

Deno's kernel sometimes publishes an `execute_result` after the `idle` status that should
follow it (measured: 5-10 % of executions). For such kernels the request is "answered" at
`idle` + reply, and done only once a later request's `idle` has come through (`kernel.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from corral.interpreter import outputs
from corral.interpreter.outputs import Line


class Execution:
    """The lines of one request, in the order the kernel produced them, ending with None."""

    def __init__(self, msg_id: str, *, fenced: bool = False) -> None:
        self.msg_id = msg_id
        self.fenced = fenced
        """Done only after a later request's `idle` (`kernel.py`), not at its own."""
        self.fence_id: str | None = None
        self.lines: asyncio.Queue[Line | None] = asyncio.Queue()
        self.done = asyncio.Event()
        self.error: Line | None = None
        self._idle = False
        self._reply: dict[str, Any] | None = None

    def on_iopub(self, msg: dict[str, Any]) -> None:
        if self.done.is_set():
            return
        if msg["msg_type"] == "status":
            if msg["content"].get("execution_state") == "idle":
                self._idle = True
            return
        line = outputs.translate(msg)
        if line is None:
            return
        if line["type"] == "error":
            if self.error is not None:
                return  # E2B reports one error per execution
            self.error = line
        self.lines.put_nowait(line)

    def on_reply(self, content: dict[str, Any]) -> None:
        if self.done.is_set():
            return
        self._reply = content

    def fail(self, line: Line) -> None:
        """End the execution with `line` (the kernel died, restarted or was removed)."""
        if self.done.is_set():
            return
        if self.error is None:
            self.error = line
            self.lines.put_nowait(line)
        self._finish()

    @property
    def answered(self) -> bool:
        return self._idle and self._reply is not None

    def finish(self) -> None:
        """End the stream; the reply's status may still add the execution's error."""
        if self.done.is_set():
            return
        reply = self._reply or {}
        status = reply.get("status")
        # The reply's error is reported only now: iopub's own `error` message (same content,
        # in order with the outputs) has arrived by `idle`, if the kernel sent one.
        if self.error is None and status == "error":
            self.error = outputs.error(
                str(reply.get("ename", "")),
                str(reply.get("evalue", "")),
                reply.get("traceback", []),
            )
            self.lines.put_nowait(self.error)
        elif self.error is None and status in ("abort", "aborted"):
            self.error = outputs.error("ExecutionAborted", "Execution was aborted")
            self.lines.put_nowait(self.error)
        self._finish()

    def _finish(self) -> None:
        self.done.set()
        self.lines.put_nowait(None)
