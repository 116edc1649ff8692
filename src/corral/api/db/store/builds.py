"""Template builds and their logs, written by the builder and polled by the SDK.

E2B's SDK polls `GET /templates/{id}/builds/{build}/status?logsOffset=N` every 0.2 s: logs are
rows so that each poll reads only the lines after the N it already has.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.db.errors import ReferenceNotFound
from corral.api.db.models import Env, EnvBuild, EnvBuildLog
from corral.api.db.records import BUILD_STATUSES, BuildLogRecord, BuildRecord, BuildStatus
from corral.api.db.store._base import StorePart, utcnow


def build_record(row: EnvBuild) -> BuildRecord:
    return BuildRecord(
        id=row.id,
        template_id=row.env_id,
        status=cast(BuildStatus, row.status),
        created_at=row.created_at,
        finished_at=row.finished_at,
        vcpu=row.vcpu,
        memory_mb=row.memory_mb,
        disk_mb=row.disk_mb,
        envd_version=row.envd_version,
        start_cmd=row.start_cmd,
        ready_cmd=row.ready_cmd,
        spec=row.spec,
        reason=row.reason,
        rootfs=row.rootfs,
    )


def _check_status(status: str) -> None:
    if status not in BUILD_STATUSES:
        raise ValueError(f"unknown build status {status!r}: one of {', '.join(BUILD_STATUSES)}")


async def current_builds(
    session: AsyncSession, env_ids: Sequence[str], *, ready_only: bool = False
) -> dict[str, EnvBuild]:
    """Each template's current build: its latest ready one, else (unless `ready_only`) its
    latest of any status. One query, whatever the number of templates."""
    rank = (
        func.row_number()
        .over(
            partition_by=EnvBuild.env_id,
            order_by=(
                case((EnvBuild.status == "ready", 0), else_=1),
                EnvBuild.created_at.desc(),
                EnvBuild.id.desc(),
            ),
        )
        .label("rank")
    )
    ranked = select(EnvBuild.id, rank).where(EnvBuild.env_id.in_(env_ids))
    if ready_only:
        ranked = ranked.where(EnvBuild.status == "ready")
    sub = ranked.subquery()
    query = select(EnvBuild).join(sub, sub.c.id == EnvBuild.id).where(sub.c.rank == 1)
    return {build.env_id: build for build in await session.scalars(query)}


class Builds(StorePart):
    async def create_build(
        self,
        template_id: str,
        *,
        build_id: str | None = None,
        status: BuildStatus = "waiting",
        vcpu: int = 2,
        memory_mb: int = 1024,
        disk_mb: int = 5120,
        envd_version: str | None = None,
        start_cmd: str | None = None,
        ready_cmd: str | None = None,
        spec: dict[str, Any] | None = None,
        rootfs: str | None = None,
        tags: Sequence[str] = (),
    ) -> BuildRecord:
        """A new build of an existing template (a rebuild, or the next `POST /v3/templates`),
        which takes `tags` (none: `default`) when it is ready (`Tags.tag_ready_build`)."""
        _check_status(status)
        now = utcnow()
        row = EnvBuild(
            id=build_id or str(uuid.uuid4()),
            env_id=template_id,
            status=status,
            created_at=now,
            finished_at=now if status in ("ready", "error") else None,
            vcpu=vcpu,
            memory_mb=memory_mb,
            disk_mb=disk_mb,
            envd_version=envd_version,
            start_cmd=start_cmd,
            ready_cmd=ready_cmd,
            spec=spec,
            reason=None,
            rootfs=rootfs,
            tags=list(tags) or None,
        )
        async with self._db.session() as session:
            env = await session.get(Env, template_id)
            if env is None:
                raise ReferenceNotFound(f"template {template_id} not found")
            env.updated_at = now
            session.add(row)
        return build_record(row)

    async def get_build(self, build_id: str) -> BuildRecord | None:
        """A build by id; callers check `template_id` (and the template's owner) themselves."""
        async with self._db.session(write=False) as session:
            row = await session.get(EnvBuild, build_id)
            return None if row is None else build_record(row)

    async def list_builds(self, template_id: str, *, limit: int = 100) -> list[BuildRecord]:
        """The template's builds, newest first."""
        query = (
            select(EnvBuild)
            .where(EnvBuild.env_id == template_id)
            .order_by(EnvBuild.created_at.desc(), EnvBuild.id.desc())
            .limit(limit)
        )
        async with self._db.session(write=False) as session:
            return [build_record(row) for row in await session.scalars(query)]

    async def update_build(
        self,
        build_id: str,
        *,
        status: BuildStatus | None = None,
        reason: str | None = None,
        rootfs: str | None = None,
        envd_version: str | None = None,
        start_cmd: str | None = None,
        ready_cmd: str | None = None,
        spec: dict[str, Any] | None = None,
        finished: bool = False,
    ) -> BuildRecord | None:
        """Change the fields given (None leaves a field as it is); `finished` stamps
        `finished_at`. None when the build does not exist."""
        if status is not None:
            _check_status(status)
        changes: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "rootfs": rootfs,
            "envd_version": envd_version,
            "start_cmd": start_cmd,
            "ready_cmd": ready_cmd,
            "spec": spec,
        }
        now = utcnow()
        async with self._db.session() as session:
            row = await session.get(EnvBuild, build_id)
            if row is None:
                return None
            for field, value in changes.items():
                if value is not None:
                    setattr(row, field, value)
            if finished:
                row.finished_at = now
            if status == "ready":
                env = await session.get(Env, row.env_id)
                if env is not None:
                    env.updated_at = now
            return build_record(row)

    async def append_build_log(
        self, build_id: str, level: str, message: str, *, step: str | None = None
    ) -> None:
        await self.append_build_logs(build_id, level, [message], step=step)

    async def append_build_logs(
        self, build_id: str, level: str, messages: Sequence[str], *, step: str | None = None
    ) -> None:
        """Several lines in one transaction: a builder's output comes in bursts."""
        now = utcnow()
        try:
            async with self._db.session() as session:
                session.add_all(
                    EnvBuildLog(build_id=build_id, at=now, level=level, message=m, step=step)
                    for m in messages
                )
        except IntegrityError as exc:
            raise ReferenceNotFound(f"build {build_id} not found") from exc

    async def build_log_count(self, build_id: str) -> int:
        query = (
            select(func.count()).select_from(EnvBuildLog).where(EnvBuildLog.build_id == build_id)
        )
        async with self._db.session(write=False) as session:
            return int(await session.scalar(query) or 0)

    async def builds_in_progress(self) -> list[BuildRecord]:
        """Builds a node is working on (status `building`), for watchers to pick up again."""
        query = select(EnvBuild).where(EnvBuild.status == "building")
        async with self._db.session(write=False) as session:
            return [build_record(row) for row in await session.scalars(query)]

    async def build_logs(
        self, build_id: str, offset: int = 0, limit: int | None = None
    ) -> list[BuildLogRecord]:
        """The build's log lines from position `offset` (E2B's `logsOffset`) on, in order."""
        query = (
            select(EnvBuildLog)
            .where(EnvBuildLog.build_id == build_id)
            .order_by(EnvBuildLog.seq)
            .offset(max(offset, 0))
            .limit(limit)
        )
        async with self._db.session(write=False) as session:
            rows = await session.scalars(query)
            return [
                BuildLogRecord(
                    offset=max(offset, 0) + i,
                    at=row.at,
                    level=row.level,
                    message=row.message,
                    step=row.step,
                )
                for i, row in enumerate(rows)
            ]
