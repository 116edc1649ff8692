"""One Jupyter kernel process and our ZeroMQ client to it (jupyter_client, no Jupyter server).

Two reader tasks take every message off the iopub and shell sockets and hand it to the
`Execution` whose request it answers (by `parent_header.msg_id`); messages for requests
nobody waits for any more are dropped.

A new kernel is ready once it has answered a `kernel_info_request` on both sockets: iopub is
a PUB/SUB socket, and whatever the kernel publishes before our subscription has reached it is
lost, so the request is repeated until its `idle` status comes through (Jupyter's "nudge").

Requests go out through the asyncio socket's own `send_multipart`, never through
`KernelClient.execute`/`kernel_info`: those call `Session.send`, which sends on a blocking
shadow of the socket. A send makes libzmq process the socket's pending commands, which
consumes the edge of its (edge-triggered) file descriptor; pyzmq's asyncio wrapper re-checks
the socket after its own sends, but never learns of the shadow's, so a reply that arrived
during that send sat unread while the shell reader waited for an edge that never came. It
showed as a `run_code` that never answered, mostly the first run of a new bash context: the
kernel's start-up nudges were still being answered when the run's requests were sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from corral import logs
from corral.interpreter.errors import KernelFailed
from corral.interpreter.execution import Execution
from corral.interpreter.languages import KernelCommand
from corral.interpreter.outputs import Line

log = logs.get("interpreter.kernel")

NUDGE_INTERVAL = 0.25
"""Seconds between `kernel_info_request`s while a new kernel's iopub is not yet heard."""


class _OneSpec(KernelSpecManager):
    """Hands jupyter_client our spec: no kernel.json is installed or searched for."""

    def __init__(self, spec: KernelSpec) -> None:
        super().__init__()
        self._spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self._spec


class Kernel:
    """A started kernel; `execute` sends code, the returned `Execution` collects the answer."""

    def __init__(self, command: KernelCommand, *, cwd: str, runtime_dir: Path) -> None:
        self.command = command
        self.cwd = cwd
        self._runtime_dir = runtime_dir
        self._manager: AsyncKernelManager | None = None
        self._client: AsyncKernelClient | None = None
        self._pending: dict[str, Execution] = {}
        self._fences: dict[str, Execution] = {}
        """`kernel_info_request` id → the execution whose late messages it waits out."""
        self._readers: list[asyncio.Task[None]] = []
        self.sandbox_env_applied = False
        """Whether the sandbox's env vars (envd's `/envs`) have been set in this kernel."""

    async def start(self, ready_within: float) -> None:
        spec = KernelSpec(
            argv=self.command.argv,
            language=self.command.family,
            display_name=self.command.family,
            interrupt_mode=self.command.interrupt_mode,
        )
        manager = AsyncKernelManager(
            kernel_name="corral",
            kernel_spec_manager=_OneSpec(spec),
            connection_file=str(self._runtime_dir / f"kernel-{uuid.uuid4().hex}.json"),
            transport="tcp",
            ip="127.0.0.1",
        )
        self._manager = manager
        env = {**os.environ, **self.command.env}
        try:
            await manager.start_kernel(cwd=self.cwd, env=env)
        except (OSError, RuntimeError) as exc:
            raise KernelFailed(f"could not start the {self.command.family} kernel: {exc}") from exc
        client: AsyncKernelClient = manager.client()
        client.start_channels(  # noqa: S604 (ZeroMQ's shell channel, not a shell)
            shell=True, iopub=True, stdin=False, hb=False, control=False
        )
        self._client = client
        self._readers = [
            asyncio.create_task(self._read_iopub(client), name="kernel-iopub"),
            asyncio.create_task(self._read_shell(client), name="kernel-shell"),
        ]
        try:
            await asyncio.wait_for(self._until_heard(), ready_within)
        except TimeoutError:
            await self.shutdown()
            raise KernelFailed(
                f"the {self.command.family} kernel did not answer within {ready_within:.0f} s"
            ) from None

    async def _until_heard(self) -> None:
        assert self._client is not None
        asked: list[Execution] = []
        try:
            while True:
                if not await self.is_alive():
                    raise KernelFailed(f"the {self.command.family} kernel exited while starting")
                execution = self._track(self._send("kernel_info_request", {}))
                asked.append(execution)
                waits = [asyncio.create_task(e.done.wait()) for e in asked]
                done, _ = await asyncio.wait(
                    waits, timeout=NUDGE_INTERVAL, return_when=asyncio.FIRST_COMPLETED
                )
                for task in waits:
                    task.cancel()
                if done:
                    return
        finally:
            for execution in asked:
                self._pending.pop(execution.msg_id, None)

    def execute(self, code: str, *, silent: bool = False, stop_on_error: bool = True) -> Execution:
        """Send `code`; the kernel runs requests in the order it receives them."""
        if self._client is None:
            raise KernelFailed("the kernel is not running")
        content = {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": stop_on_error,
        }
        msg_id = self._send("execute_request", content)
        return self._track(msg_id, fenced=self.command.late_results and not silent)

    def _send(self, msg_type: str, content: dict[str, Any]) -> str:
        """Send a shell request through the asyncio socket (see the module docstring)."""
        assert self._client is not None
        socket = self._client.shell_channel.socket
        if socket is None:
            raise KernelFailed("the kernel's shell channel is closed")
        session = self._client.session
        msg = session.msg(msg_type, content)
        # Done at once unless the socket is full; a pending send completes from the loop.
        sent = asyncio.ensure_future(socket.send_multipart(session.serialize(msg)))
        sent.add_done_callback(_log_send_failure)
        msg_id: str = msg["header"]["msg_id"]
        return msg_id

    def forget(self, execution: Execution) -> None:
        self._pending.pop(execution.msg_id, None)

    def fail_all(self, line: Line) -> None:
        """End every request in flight with `line` (the kernel is gone or being replaced)."""
        pending, self._pending = self._pending, {}
        self._fences = {}
        for execution in pending.values():
            execution.fail(line)

    async def interrupt(self) -> None:
        if self._manager is not None and self._manager.has_kernel:
            with contextlib.suppress(OSError, RuntimeError):
                await self._manager.interrupt_kernel()

    async def is_alive(self) -> bool:
        if self._manager is None:
            return False
        alive: bool = await self._manager.is_alive()
        return alive

    async def shutdown(self) -> None:
        """Kill the kernel's process group: its state is not worth a graceful goodbye."""
        for task in self._readers:
            task.cancel()
        self._readers = []
        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        manager, self._manager = self._manager, None
        if manager is not None and manager.has_kernel:
            try:
                await manager.shutdown_kernel(now=True)
            except (OSError, RuntimeError) as exc:
                log.warning("kernel shutdown failed", error=str(exc))

    def _track(self, msg_id: str, *, fenced: bool = False) -> Execution:
        execution = Execution(msg_id, fenced=fenced)
        self._pending[msg_id] = execution
        return execution

    async def _read_iopub(self, client: AsyncKernelClient) -> None:
        while True:
            try:
                msg: dict[str, Any] = await client.get_iopub_msg()
            except (ValueError, KeyError) as exc:  # a message that fails to decode or verify
                log.warning("dropped an iopub message", error=str(exc))
                continue
            parent = msg["parent_header"].get("msg_id", "")
            execution = self._pending.get(parent)
            if execution is not None:
                execution.on_iopub(msg)
                self._settle(execution)
            elif parent in self._fences and _is_idle(msg):
                fenced = self._fences.pop(parent)
                self._pending.pop(fenced.msg_id, None)
                fenced.finish()

    async def _read_shell(self, client: AsyncKernelClient) -> None:
        while True:
            try:
                msg: dict[str, Any] = await client.get_shell_msg()
            except (ValueError, KeyError) as exc:
                log.warning("dropped a shell message", error=str(exc))
                continue
            execution = self._pending.get(msg["parent_header"].get("msg_id", ""))
            if execution is not None:
                execution.on_reply(msg["content"])
                self._settle(execution)

    def _settle(self, execution: Execution) -> None:
        """Finish an answered execution, or first wait out its late messages with a fence."""
        if not execution.answered or execution.done.is_set():
            return
        if not execution.fenced:
            self._pending.pop(execution.msg_id, None)
            execution.finish()
        elif execution.fence_id is None and self._client is not None:
            execution.fence_id = self._send("kernel_info_request", {})
            self._fences[execution.fence_id] = execution


def _log_send_failure(sent: asyncio.Future[Any]) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        log.warning("a request to the kernel was not sent", error=str(sent.exception()))


def _is_idle(msg: dict[str, Any]) -> bool:
    return bool(msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle")
