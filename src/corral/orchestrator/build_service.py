"""`corral.orchestrator.v1.TemplateService`: template builds over gRPC."""

from __future__ import annotations

from google.protobuf.empty_pb2 import Empty

from corral.orchestrator.builds import TemplateBuilds
from corral.orchestrator.errors import BuildNotFound
from corral.orchestrator.gen import templates_pb2 as tpb
from corral.orchestrator.service import Context, _mapped
from corral.templates.journal import BuildState

DEFAULT_LIMIT = 100


def build_message(state: BuildState, offset: int = 0, limit: int = DEFAULT_LIMIT) -> tpb.BuildInfo:
    result = state.result
    entries = state.logs[offset : offset + limit]
    return tpb.BuildInfo(
        build_id=state.build_id,
        template_id=state.template_id,
        status=state.status,
        reason=state.reason or "",
        reason_step=state.reason_step or "",
        logs=[
            tpb.BuildLogEntry(
                timestamp=e.timestamp, level=e.level, message=e.message, step=e.step or ""
            )
            for e in entries
        ],
        logs_total=len(state.logs),
        image_id=str(result.get("image_id") or ""),
        rootfs_bytes=int(str(result.get("rootfs_bytes") or 0)),
        user=str(result.get("user") or ""),
        workdir=str(result.get("workdir") or ""),
    )


class TemplateService:
    def __init__(self, builds: TemplateBuilds) -> None:
        self.builds = builds

    @_mapped
    async def StartBuild(self, request: tpb.StartBuildRequest, context: Context) -> tpb.BuildInfo:
        state = self.builds.start_build(
            request.build_id,
            request.template_id,
            request.spec_json,
            request.base_template_id,
            request.base_build_id,
        )
        return build_message(state, 0, 0)

    @_mapped
    async def GetBuild(self, request: tpb.GetBuildRequest, context: Context) -> tpb.BuildInfo:
        state = self.builds.get(request.build_id)
        if state is None:
            raise BuildNotFound(f"build {request.build_id} not found on this node")
        return build_message(state, request.logs_offset, min(request.limit or DEFAULT_LIMIT, 1000))

    @_mapped
    async def DeleteBuild(self, request: tpb.BuildRef, context: Context) -> Empty:
        await self.builds.delete(request.build_id)
        return Empty()
