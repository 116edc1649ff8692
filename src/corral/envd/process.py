"""The `process.Process` Connect service (wire protocol sections 3.3 and 4)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from protobuf import Oneof

from corral.envd.auth import basic_auth_user
from corral.envd.errors import FailedPrecondition, InvalidArgument, NotFound
from corral.envd.exitstatus import ExitStatus
from corral.envd.gen.process.process_connect import Process
from corral.envd.gen.process.process_pb import (
    CloseStdinRequest,
    CloseStdinResponse,
    ConnectRequest,
    ConnectResponse,
    ListRequest,
    ListResponse,
    ProcessConfig,
    ProcessEvent,
    ProcessInfo,
    ProcessInput,
    ProcessSelector,
    SendInputRequest,
    SendInputResponse,
    SendSignalRequest,
    SendSignalResponse,
    Signal,
    StartRequest,
    StartResponse,
    StreamInputRequest,
    StreamInputResponse,
    UpdateRequest,
    UpdateResponse,
)
from corral.envd.paths import resolve
from corral.envd.processes import ManagedProcess, ProcessSpec, Subscription, build_env, spawn
from corral.envd.state import EnvdState

KEEPALIVE_HEADER = "keepalive-ping-interval"
DEFAULT_KEEPALIVE_SECONDS = 50.0
_SIGNALS = {Signal.SIGKILL: signal.SIGKILL, Signal.SIGTERM: signal.SIGTERM}

Ctx = RequestContext[Any, Any]


def _keepalive_interval(ctx: Ctx) -> float:
    raw = ctx.request_headers.get(KEEPALIVE_HEADER)
    try:
        seconds = float(raw) if raw else DEFAULT_KEEPALIVE_SECONDS
    except ValueError:
        raise InvalidArgument(f"invalid {KEEPALIVE_HEADER} header: '{raw}'") from None
    return max(seconds, 0.05)


def _event(kind: str, value: Any) -> ProcessEvent:
    return ProcessEvent(event=Oneof(kind, value))  # type: ignore[arg-type]


def _end_event(status: ExitStatus) -> ProcessEvent:
    return _event(
        "end",
        ProcessEvent.EndEvent(
            exit_code=status.exit_code,
            exited=status.exited,
            status=status.status,
            error=status.error,
        ),
    )


class ProcessService(Process):
    """Starts processes as the requesting user and streams their events."""

    def __init__(self, state: EnvdState) -> None:
        self.state = state
        self._processes: dict[int, ManagedProcess] = {}

    def _find(self, selector: ProcessSelector | None) -> ManagedProcess:
        match selector.selector if selector is not None else None:
            case Oneof(field="pid", value=int() as pid):
                found = self._processes.get(pid)
                if found is None:
                    raise NotFound(f"process with pid {pid} not found")
                return found
            case Oneof(field="tag", value=str() as tag):
                for candidate in self._processes.values():
                    if candidate.spec.tag == tag:
                        return candidate
                raise NotFound(f"process with tag '{tag}' not found")
        raise InvalidArgument("a process selector (pid or tag) is required")

    async def list(self, request: ListRequest, ctx: Ctx, /) -> ListResponse:
        return ListResponse(
            processes=[
                ProcessInfo(
                    config=ProcessConfig(
                        cmd=p.spec.cmd, args=p.spec.args, envs=p.spec.envs, cwd=p.cwd
                    ),
                    pid=p.pid,
                    tag=p.spec.tag,
                )
                for p in self._processes.values()
            ]
        )

    async def start(self, request: StartRequest, ctx: Ctx, /) -> AsyncIterator[StartResponse]:
        config = request.process
        if config is None or not config.cmd:
            raise InvalidArgument("process.cmd is required")
        user = self.state.user(basic_auth_user(ctx.request_headers))
        cwd = (
            resolve(config.cwd, user, self.state.default_workdir)
            if config.cwd
            else (self.state.default_workdir or user.home or "/")
        )
        size = request.pty.size if request.pty is not None else None
        spec = ProcessSpec(
            cmd=config.cmd,
            args=list(config.args),
            envs=dict(config.envs),
            cwd=config.cwd if config.has_field("cwd") else None,
            tag=request.tag if request.has_field("tag") else None,
            stdin=request.stdin if request.has_field("stdin") else True,
            pty_size=(size.cols or 80, size.rows or 24)
            if request.pty is not None and size
            else ((80, 24) if request.pty is not None else None),
        )
        env = build_env(user, self.state.env_vars, spec.envs)
        keepalive = _keepalive_interval(ctx)
        managed, events = await spawn(spec, user, env, cwd, self._forget)
        self._processes[managed.pid] = managed
        if ctx.timeout_ms is not None:
            managed.expire_after(ctx.timeout_ms / 1000)
        try:
            yield StartResponse(event=_event("start", ProcessEvent.StartEvent(pid=managed.pid)))
            async for event in self._follow(events, keepalive, None):
                yield StartResponse(event=event)
        finally:
            managed.unsubscribe(events)

    async def connect(self, request: ConnectRequest, ctx: Ctx, /) -> AsyncIterator[ConnectResponse]:
        managed = self._find(request.process)
        keepalive = _keepalive_interval(ctx)
        events = managed.subscribe()
        try:
            yield ConnectResponse(event=_event("start", ProcessEvent.StartEvent(pid=managed.pid)))
            async for event in self._follow(events, keepalive, ctx):
                yield ConnectResponse(event=event)
        finally:
            managed.unsubscribe(events)

    async def _follow(
        self, events: Subscription, keepalive: float, deadline_ctx: Ctx | None
    ) -> AsyncIterator[ProcessEvent]:
        """Data and keepalives until the end event; a Connect stream also stops at its deadline."""
        while True:
            wait = keepalive
            if deadline_ctx is not None and deadline_ctx.timeout_ms is not None:
                remaining = deadline_ctx.timeout_ms / 1000
                if remaining <= 0:
                    raise ConnectError(Code.DEADLINE_EXCEEDED, "stream deadline exceeded")
                wait = min(wait, remaining)
            try:
                item = await asyncio.wait_for(events.get(), wait)
            except TimeoutError:
                yield _event("keepalive", ProcessEvent.KeepAlive())
                continue
            if isinstance(item, ExitStatus):
                yield _end_event(item)
                return
            stream, data = item
            output: Any = Oneof(stream, data)
            yield _event("data", ProcessEvent.DataEvent(output=output))

    def _forget(self, managed: ManagedProcess) -> None:
        if self._processes.get(managed.pid) is managed:
            del self._processes[managed.pid]

    async def _write(self, managed: ManagedProcess, data: ProcessInput | None) -> None:
        match data.input if data is not None else None:
            case Oneof(field="stdin", value=payload):
                await managed.write(payload, to_pty=False)
            case Oneof(field="pty", value=payload):
                await managed.write(payload, to_pty=True)
            case _:
                raise InvalidArgument("input must carry stdin or pty bytes")

    async def send_input(self, request: SendInputRequest, ctx: Ctx, /) -> SendInputResponse:
        await self._write(self._find(request.process), request.input)
        return SendInputResponse()

    async def stream_input(
        self, request: AsyncIterator[StreamInputRequest], ctx: Ctx, /
    ) -> StreamInputResponse:
        managed: ManagedProcess | None = None
        async for message in request:
            match message.event:
                case Oneof(field="start", value=StreamInputRequest.StartEvent() as start):
                    managed = self._find(start.process)
                case Oneof(field="data", value=StreamInputRequest.DataEvent() as data):
                    if managed is None:
                        raise FailedPrecondition("the first message must be start")
                    await self._write(managed, data.input)
                case _:
                    pass  # keepalive
        return StreamInputResponse()

    async def send_signal(self, request: SendSignalRequest, ctx: Ctx, /) -> SendSignalResponse:
        signum = _SIGNALS.get(request.signal)
        if signum is None:
            raise InvalidArgument(f"unsupported signal {request.signal}")
        self._find(request.process).signal(signum)
        return SendSignalResponse()

    async def close_stdin(self, request: CloseStdinRequest, ctx: Ctx, /) -> CloseStdinResponse:
        self._find(request.process).close_stdin()
        return CloseStdinResponse()

    async def update(self, request: UpdateRequest, ctx: Ctx, /) -> UpdateResponse:
        managed = self._find(request.process)
        if request.pty is not None and request.pty.size is not None:
            managed.resize(request.pty.size.cols, request.pty.size.rows)
        return UpdateResponse()

    async def shutdown(self) -> None:
        """Kill what is still running when envd stops, so nothing is left orphaned."""
        for managed in list(self._processes.values()):
            managed.signal(signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(p.done.wait() for p in self._processes.values())), 5
            )
