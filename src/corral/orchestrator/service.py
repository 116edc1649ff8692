"""The gRPC handlers: requests validated into node calls, answers built from records.

Every handler goes through `_mapped`, the one place where an exception becomes a gRPC status
(`errors.status_for`), with the exact error class in the `corral-error` trailing metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.empty_pb2 import Empty

from corral import __version__, logs
from corral.envd import ENVD_VERSION
from corral.orchestrator import listing, wire
from corral.orchestrator.errors import ERROR_KEY, InvalidRequest, status_for
from corral.orchestrator.gen import orchestrator_pb2 as pb
from corral.orchestrator.models import CreateParams
from corral.orchestrator.node import Node
from corral.runtime.types import Resources

log = logs.get("orchestrator.service")

_S = TypeVar("_S")
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[_S, _Req, Context], Awaitable[_Resp]]


def _mapped(handler: Handler[_S, _Req, _Resp]) -> Handler[_S, _Req, _Resp]:
    @functools.wraps(handler)
    async def wrapper(self: _S, request: _Req, context: Context) -> _Resp:
        try:
            return await handler(self, request, context)
        except Exception as exc:
            code, message, name = status_for(exc)
            if code is grpc.StatusCode.INTERNAL:
                log.exception("rpc failed", rpc=handler.__name__)
            await context.abort(code, message, trailing_metadata=((ERROR_KEY, name),))

    return wrapper


class SandboxService:
    """`corral.orchestrator.v1.SandboxService` over a `Node`."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @_mapped
    async def Create(self, request: pb.CreateRequest, context: Context) -> pb.Sandbox:
        record = await self.node.create(self._params(request))
        return wire.sandbox_message(record)

    @_mapped
    async def Get(self, request: pb.SandboxRef, context: Context) -> pb.Sandbox:
        return wire.sandbox_message(self.node.get(request.sandbox_id))

    @_mapped
    async def List(self, request: pb.ListRequest, context: Context) -> pb.ListResponse:
        records = listing.select(
            self.node.list(team_id=request.team_id, state=wire.state_name(request.state)),
            metadata=request.metadata,
            ascending=request.ascending,
            limit=request.limit,
            after=wire.cursor_of(request.after) if request.HasField("after") else None,
        )
        return pb.ListResponse(sandboxes=[wire.sandbox_message(r) for r in records])

    @_mapped
    async def Delete(self, request: pb.SandboxRef, context: Context) -> Empty:
        await self.node.delete(request.sandbox_id)
        return Empty()

    @_mapped
    async def SetTimeout(self, request: pb.SetTimeoutRequest, context: Context) -> pb.Sandbox:
        end_time = wire.end_time_of(request, self.node.settings.default_timeout)
        return wire.sandbox_message(await self.node.set_timeout(request.sandbox_id, end_time))

    @_mapped
    async def Pause(self, request: pb.PauseRequest, context: Context) -> pb.Sandbox:
        record = await self.node.pause(request.sandbox_id, memory=not request.filesystem_only)
        return wire.sandbox_message(record)

    @_mapped
    async def Resume(self, request: pb.ResumeRequest, context: Context) -> pb.Sandbox:
        end_time = wire.end_time_of(request, self.node.settings.default_timeout)
        record = await self.node.resume(request.sandbox_id, end_time, team_id=request.team_id)
        return wire.sandbox_message(record)

    @_mapped
    async def Snapshot(self, request: pb.SnapshotRequest, context: Context) -> pb.SnapshotInfo:
        meta = await self.node.snapshot(
            request.sandbox_id, request.snapshot_id, memory=not request.filesystem_only
        )
        return pb.SnapshotInfo(
            snapshot_id=meta.snapshot_id,
            template_id=meta.template_id,
            build_id=meta.build_id,
            memory=meta.memory,
            size_bytes=meta.size_bytes,
            created_at=wire.timestamp(meta.created_at),
            source_sandbox_id=meta.source_sandbox_id,
        )

    @_mapped
    async def DeleteSnapshot(self, request: pb.SnapshotRef, context: Context) -> Empty:
        await self.node.delete_snapshot(request.snapshot_id)
        return Empty()

    @_mapped
    async def Metrics(self, request: pb.SandboxRef, context: Context) -> pb.SandboxMetrics:
        return wire.metrics_message(await self.node.metrics(request.sandbox_id))

    @_mapped
    async def Logs(self, request: pb.LogsRequest, context: Context) -> pb.LogsResponse:
        entries = await self.node.logs(request.sandbox_id, wire.logs_query(request))
        return pb.LogsResponse(entries=[wire.log_entry_message(e) for e in entries])

    def _params(self, request: pb.CreateRequest) -> CreateParams:
        settings = self.node.settings
        if not request.template_id:
            raise InvalidRequest("template_id is required")
        for name, value in request.env_vars.items():
            if not name or "=" in name or "\0" in name + value:
                raise InvalidRequest(f"invalid environment variable {name!r}")
        return CreateParams(
            sandbox_id=request.sandbox_id,
            template_id=request.template_id,
            resources=Resources(
                vcpu=request.vcpu or settings.default_vcpu,
                memory_mb=request.memory_mb or settings.default_memory_mb,
                disk_mb=request.disk_mb or settings.default_disk_mb,
            ),
            end_time=wire.end_time_of(request, settings.default_timeout),
            build_id=request.build_id,
            team_id=request.team_id,
            env_vars=dict(request.env_vars),
            metadata=dict(request.metadata),
            allow_internet_access=(
                request.allow_internet_access if request.HasField("allow_internet_access") else True
            ),
            envd_access_token=request.envd_access_token or None,
            auto_pause=request.auto_pause,
            auto_resume=request.auto_resume,
            auto_pause_memory=(
                request.auto_pause_memory if request.HasField("auto_pause_memory") else True
            ),
            timeout_seconds=wire.lifetime_seconds(request, settings.default_timeout),
            snapshot_id=request.snapshot_id,
        )


class NodeService:
    """`corral.orchestrator.v1.NodeService`: what placement needs to know about this host."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @_mapped
    async def Info(self, request: Empty, context: Context) -> pb.NodeInfo:
        status = self.node.status()
        return pb.NodeInfo(
            node_id=status.node_id,
            version=__version__,
            runtime=status.runtime,
            envd_version=ENVD_VERSION,
            started_at=wire.timestamp(status.started_at),
            capacity=pb.Capacity(cpus=status.cpus, memory_mb=status.memory_mb),
            load=pb.Load(
                running=status.running,
                paused=status.paused,
                allocated_vcpu=status.allocated_vcpu,
                allocated_memory_mb=status.allocated_memory_mb,
            ),
            sandboxes=status.running + status.paused,
            pools=[
                pb.PoolStatus(
                    template_id=p.key.template_id,
                    vcpu=p.key.resources.vcpu,
                    memory_mb=p.key.resources.memory_mb,
                    disk_mb=p.key.resources.disk_mb,
                    ready=p.ready,
                    starting=p.starting,
                    target=p.target,
                )
                for p in status.pools
            ],
        )
