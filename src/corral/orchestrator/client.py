"""The control plane's typed handle on one orchestrator node.

Calls return `wire.Sandbox` / `wire.NodeInfo` values and raise the orchestrator's own
exceptions (`SandboxNotFound`, `SandboxExists`, `StateConflict`, …, see `errors.py`), never
`grpc.RpcError`: the API maps those classes to E2B's HTTP errors in its own single place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.empty_pb2 import Empty

from corral.orchestrator.auth import bearer_metadata
from corral.orchestrator.errors import ERROR_KEY, error_for
from corral.orchestrator.gen import orchestrator_pb2 as pb
from corral.orchestrator.gen import templates_pb2 as tpb
from corral.orchestrator.sandbox_logs import LogEntry, LogQuery
from corral.orchestrator.wire import (
    NodeInfo,
    Sandbox,
    SandboxMetrics,
    SnapshotInfo,
    list_cursor,
    log_entry,
    logs_request,
    state_number,
    timestamp,
)
from corral.runtime.types import SandboxState

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

SANDBOX_SERVICE = "/corral.orchestrator.v1.SandboxService"
NODE_SERVICE = "/corral.orchestrator.v1.NodeService"
TEMPLATE_SERVICE = "/corral.orchestrator.v1.TemplateService"


class OrchestratorClient:
    """`async with OrchestratorClient("node:5008", secret) as node: await node.create(...)`."""

    def __init__(
        self,
        target: str,
        secret: str | None,
        *,
        call_timeout: float = 30.0,
        create_timeout: float = 120.0,
    ) -> None:
        self.target = target
        self.call_timeout = call_timeout
        self.create_timeout = create_timeout
        self._metadata = bearer_metadata(secret) if secret else ()
        self._channel = grpc.aio.insecure_channel(target)
        unary = self._channel.unary_unary
        s = SANDBOX_SERVICE
        self._create = unary(
            f"{s}/Create", pb.CreateRequest.SerializeToString, pb.Sandbox.FromString
        )
        self._get = unary(f"{s}/Get", pb.SandboxRef.SerializeToString, pb.Sandbox.FromString)
        self._list = unary(
            f"{s}/List", pb.ListRequest.SerializeToString, pb.ListResponse.FromString
        )
        self._delete = unary(f"{s}/Delete", pb.SandboxRef.SerializeToString, Empty.FromString)
        self._set_timeout = unary(
            f"{s}/SetTimeout", pb.SetTimeoutRequest.SerializeToString, pb.Sandbox.FromString
        )
        self._pause = unary(f"{s}/Pause", pb.PauseRequest.SerializeToString, pb.Sandbox.FromString)
        self._snapshot = unary(
            f"{s}/Snapshot", pb.SnapshotRequest.SerializeToString, pb.SnapshotInfo.FromString
        )
        self._delete_snapshot = unary(
            f"{s}/DeleteSnapshot", pb.SnapshotRef.SerializeToString, Empty.FromString
        )
        self._resume = unary(
            f"{s}/Resume", pb.ResumeRequest.SerializeToString, pb.Sandbox.FromString
        )
        self._metrics = unary(
            f"{s}/Metrics", pb.SandboxRef.SerializeToString, pb.SandboxMetrics.FromString
        )
        self._logs = unary(
            f"{s}/Logs", pb.LogsRequest.SerializeToString, pb.LogsResponse.FromString
        )
        self._info = unary(f"{NODE_SERVICE}/Info", Empty.SerializeToString, pb.NodeInfo.FromString)
        t = TEMPLATE_SERVICE
        self._start_build = unary(
            f"{t}/StartBuild", tpb.StartBuildRequest.SerializeToString, tpb.BuildInfo.FromString
        )
        self._get_build = unary(
            f"{t}/GetBuild", tpb.GetBuildRequest.SerializeToString, tpb.BuildInfo.FromString
        )
        self._delete_build = unary(
            f"{t}/DeleteBuild", tpb.BuildRef.SerializeToString, Empty.FromString
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[_Req, _Resp],
        request: _Req,
        deadline: float | None = None,
    ) -> _Resp:
        try:
            return await method(
                request, timeout=deadline or self.call_timeout, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            name = None
            for key, value in exc.trailing_metadata() or ():
                if key == ERROR_KEY:
                    name = value if isinstance(value, str) else value.decode()
            raise error_for(exc.code(), exc.details(), name) from exc

    async def create(
        self,
        sandbox_id: str,
        template_id: str,
        *,
        build_id: str = "",
        team_id: str = "",
        vcpu: int = 0,
        memory_mb: int = 0,
        disk_mb: int = 0,
        env_vars: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        timeout_seconds: int | None = None,
        end_time: datetime | None = None,
        allow_internet_access: bool = True,
        envd_access_token: str | None = None,
        auto_pause: bool = False,
        auto_resume: bool = False,
        auto_pause_memory: bool = True,
        snapshot_id: str = "",
    ) -> Sandbox:
        """Start a sandbox; `timeout_seconds` or `end_time` bound its life (else the node's
        default); envd answers at `address:envd_port` when this returns. With `snapshot_id`
        it starts from that snapshot instead of the template."""
        request = pb.CreateRequest(
            sandbox_id=sandbox_id,
            template_id=template_id,
            build_id=build_id,
            team_id=team_id,
            vcpu=vcpu,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            env_vars=env_vars or {},
            metadata=metadata or {},
            allow_internet_access=allow_internet_access,
            envd_access_token=envd_access_token or "",
            auto_pause=auto_pause,
            auto_resume=auto_resume,
            auto_pause_memory=auto_pause_memory,
            snapshot_id=snapshot_id,
        )
        _set_lifetime(request, timeout_seconds, end_time)
        return Sandbox.from_message(await self._call(self._create, request, self.create_timeout))

    async def get(self, sandbox_id: str) -> Sandbox:
        return Sandbox.from_message(
            await self._call(self._get, pb.SandboxRef(sandbox_id=sandbox_id))
        )

    async def list(
        self,
        *,
        team_id: str = "",
        state: SandboxState | None = None,
        metadata: Mapping[str, str] | None = None,
        ascending: bool = False,
        limit: int = 0,
        after: tuple[datetime, str] | None = None,
    ) -> list[Sandbox]:
        """Sandboxes by (start time, id), newest first unless `ascending`; with `limit`, the
        first that many past `after` (the start time and id of the last one already seen)."""
        request = pb.ListRequest(
            team_id=team_id, metadata=metadata, ascending=ascending, limit=limit
        )
        if state is not None:
            request.state = state_number(state)
        if after is not None:
            request.after.CopyFrom(list_cursor(after))
        response = await self._call(self._list, request)
        return [Sandbox.from_message(m) for m in response.sandboxes]

    async def delete(self, sandbox_id: str) -> None:
        await self._call(self._delete, pb.SandboxRef(sandbox_id=sandbox_id))

    async def set_timeout(
        self,
        sandbox_id: str,
        *,
        timeout_seconds: int | None = None,
        end_time: datetime | None = None,
    ) -> Sandbox:
        request = pb.SetTimeoutRequest(sandbox_id=sandbox_id)
        _set_lifetime(request, timeout_seconds, end_time)
        return Sandbox.from_message(await self._call(self._set_timeout, request))

    async def pause(self, sandbox_id: str, *, memory: bool = True) -> Sandbox:
        """Pause; `memory=False` keeps the filesystem only (processes end)."""
        request = pb.PauseRequest(sandbox_id=sandbox_id, filesystem_only=not memory)
        return Sandbox.from_message(await self._call(self._pause, request, self.create_timeout))

    async def resume(
        self,
        sandbox_id: str,
        *,
        timeout_seconds: int | None = None,
        end_time: datetime | None = None,
        team_id: str = "",
    ) -> Sandbox:
        """Resume a sandbox paused here, or one whose pause this node finds in the artifact
        store (`team_id`, when given, must own it)."""
        request = pb.ResumeRequest(sandbox_id=sandbox_id, team_id=team_id)
        _set_lifetime(request, timeout_seconds, end_time)
        return Sandbox.from_message(await self._call(self._resume, request, self.create_timeout))

    async def snapshot(
        self, sandbox_id: str, snapshot_id: str, *, memory: bool = True
    ) -> SnapshotInfo:
        """Save the running sandbox as `snapshot_id`; it keeps running."""
        request = pb.SnapshotRequest(
            sandbox_id=sandbox_id, snapshot_id=snapshot_id, filesystem_only=not memory
        )
        return SnapshotInfo.from_message(
            await self._call(self._snapshot, request, self.create_timeout)
        )

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self._call(self._delete_snapshot, pb.SnapshotRef(snapshot_id=snapshot_id))

    async def metrics(self, sandbox_id: str) -> SandboxMetrics:
        return SandboxMetrics.from_message(
            await self._call(self._metrics, pb.SandboxRef(sandbox_id=sandbox_id))
        )

    async def logs(self, sandbox_id: str, query: LogQuery | None = None) -> Sequence[LogEntry]:
        """envd's log of a sandbox: `query` bounds it (by default the first 1000 entries)."""
        response = await self._call(self._logs, logs_request(sandbox_id, query or LogQuery()))
        return [log_entry(m) for m in response.entries]

    async def info(self) -> NodeInfo:
        return NodeInfo.from_message(await self._call(self._info, Empty()))

    async def start_build(
        self,
        build_id: str,
        template_id: str,
        spec_json: str,
        *,
        base_template_id: str = "",
        base_build_id: str = "",
    ) -> tpb.BuildInfo:
        """Start a template build on this node (it runs in the background)."""
        request = tpb.StartBuildRequest(
            build_id=build_id,
            template_id=template_id,
            spec_json=spec_json,
            base_template_id=base_template_id,
            base_build_id=base_build_id,
        )
        return await self._call(self._start_build, request)

    async def get_build(self, build_id: str, logs_offset: int = 0, limit: int = 0) -> tpb.BuildInfo:
        request = tpb.GetBuildRequest(build_id=build_id, logs_offset=logs_offset, limit=limit)
        return await self._call(self._get_build, request)

    async def delete_build(self, build_id: str) -> None:
        await self._call(self._delete_build, tpb.BuildRef(build_id=build_id))


def _set_lifetime(
    request: pb.CreateRequest | pb.SetTimeoutRequest | pb.ResumeRequest,
    timeout_seconds: int | None,
    end_time: datetime | None,
) -> None:
    if timeout_seconds is not None and end_time is not None:
        raise ValueError("give timeout_seconds or end_time, not both")
    if timeout_seconds is not None:
        request.timeout_seconds = timeout_seconds
    elif end_time is not None:
        request.end_time.CopyFrom(timestamp(end_time))
