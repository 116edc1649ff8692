"""The node: every sandbox on this host, from create to kill, through one `Driver`.

It owns the registry (durable records), the launcher (warm pools, cold starts), the reaper and
the envd client; only it and the launcher call the driver. Operations on one sandbox are
serialised by a per-sandbox lock, so a delete cannot race a pause or the reaper.

At its end time a sandbox is killed, or paused when it was created with `auto_pause` (E2B's
`lifecycle.on_timeout = "pause"`). A paused sandbox has no end: its timeout clock stops, the
reaper passes it by, and it is kept (memory and disk) until it is resumed or deleted, as E2B
keeps paused sandboxes. A resume starts a new clock. How a pause keeps a sandbox, and how a
node takes over one paused elsewhere, is `pauses.py`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from corral import logs
from corral.orchestrator.envd_client import EnvdClient
from corral.orchestrator.errors import (
    SandboxExists,
    SandboxNotFound,
    StateConflict,
    TemplateNotFound,
)
from corral.orchestrator.launcher import Launcher
from corral.orchestrator.models import (
    CreateParams,
    PoolKey,
    SandboxRecord,
    check_sandbox_id,
    utcnow,
)
from corral.orchestrator.pauses import Pauses
from corral.orchestrator.pauses import ids as _ids
from corral.orchestrator.pool import PoolStatus
from corral.orchestrator.reaper import Reaper
from corral.orchestrator.registry import Registry
from corral.orchestrator.sandbox_logs import LogEntry, LogQuery, read_log
from corral.orchestrator.saving import SandboxSaver
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.snapshots import NodeSnapshots, SnapshotMeta
from corral.orchestrator.templates import TemplateCatalog
from corral.orchestrator.usage import UsageMeter
from corral.orchestrator.wire import SandboxMetrics
from corral.runtime.types import Driver, Resources, RuntimeSandbox, SandboxState
from corral.templates.store import ArtifactStore, open_store

log = logs.get("orchestrator.node")


@dataclass(frozen=True)
class NodeStatus:
    node_id: str
    runtime: str
    started_at: datetime
    cpus: int
    memory_mb: int
    running: int
    paused: int
    allocated_vcpu: int
    allocated_memory_mb: int
    pools: list[PoolStatus]


class Node:
    def __init__(
        self,
        *,
        driver: Driver,
        templates: TemplateCatalog,
        settings: OrchestratorSettings,
        envd: EnvdClient | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        self.driver = driver
        self.templates = templates
        self.settings = settings
        self.registry = Registry(settings.state_dir)
        self.envd = envd or EnvdClient(poll_interval=settings.health_poll_interval)
        self.launcher = Launcher(
            driver=driver, templates=templates, envd=self.envd, settings=settings
        )
        self.pool = self.launcher.pool
        self.snapshots = NodeSnapshots(
            settings.data_dir / "snapshots",
            store or open_store(settings.artifacts or str(settings.data_dir / "artifacts")),
        )
        self.saver = SandboxSaver(
            driver=driver, launcher=self.launcher, envd=self.envd, snapshots=self.snapshots
        )
        self.pauses = Pauses(
            driver=driver,
            envd=self.envd,
            launcher=self.launcher,
            templates=templates,
            registry=self.registry,
            saver=self.saver,
            readiness_timeout=settings.readiness_timeout,
        )
        self.reaper = Reaper(
            self.registry,
            self.expire,
            settings.reaper_interval,
            alive=driver.alive,
            bury=self.bury,
            liveness_every=max(1, round(settings.liveness_interval / settings.reaper_interval)),
        )
        self.started_at = utcnow()
        self._locks: dict[str, asyncio.Lock] = {}
        self._creating: set[str] = set()
        self.usage = UsageMeter(driver)

    @property
    def default_resources(self) -> Resources:
        s = self.settings
        return Resources(
            vcpu=s.default_vcpu, memory_mb=s.default_memory_mb, disk_mb=s.default_disk_mb
        )

    # --- start and stop -------------------------------------------------------------------

    async def start(self) -> None:
        """Re-adopt what a previous run left, then start the reaper and the warm pools."""
        await self._recover()
        self.reaper.start()
        for template_id in self.settings.pool_templates:
            try:
                self.templates.image(template_id)
            except TemplateNotFound as exc:
                log.warning("no warm pool", template=template_id, reason=str(exc))
                continue
            self.pool.ensure(PoolKey(template_id, self.default_resources))

    async def stop(self) -> None:
        """Stop background work and destroy pool sandboxes; assigned sandboxes keep running."""
        await self.reaper.stop()
        await self.launcher.close()
        await self.envd.aclose()

    async def _recover(self) -> None:
        records = await asyncio.to_thread(self.registry.load)
        found = {sandbox.sandbox_id: sandbox for sandbox in await self.driver.discover()}
        keep: set[str] = set()
        for record in records:
            if record.state == "paused" and record.snapshot_id:
                await self.pauses.recover(record)
                continue
            sandbox = found.get(record.runtime_id)
            if sandbox is None:
                log.warning("sandbox gone while the orchestrator was down", **_ids(record))
                await self.registry.remove(record.sandbox_id)
                continue
            keep.add(record.runtime_id)
            address = str(sandbox.address)
            if sandbox.state != record.state or address != record.address:
                await self.registry.put(record.evolve(state=sandbox.state, address=address))
        removed = await self.driver.cleanup_orphans(keep)
        log.info(
            "recovered",
            adopted=len(keep),
            dropped=len(records) - len(keep),
            orphans_removed=len(removed),
        )

    # --- create ---------------------------------------------------------------------------

    async def create(self, params: CreateParams) -> SandboxRecord:
        """A running, personalised sandbox, durably recorded; on failure nothing is left."""
        sandbox_id = check_sandbox_id(params.sandbox_id)
        if sandbox_id in self.registry or sandbox_id in self._creating:
            raise SandboxExists(f"sandbox {sandbox_id} already exists")
        started = time.perf_counter()
        self._creating.add(sandbox_id)
        try:
            meta = None
            if params.snapshot_id:
                meta = await self.snapshots.fetch(check_sandbox_id(params.snapshot_id))
                params = replace(
                    params,
                    template_id=meta.template_id,
                    build_id=meta.build_id,
                    resources=meta.resources,
                )
            image = self.templates.image(params.template_id, params.build_id)
            params = replace(params, image_key=image.key)
            sandbox: RuntimeSandbox
            if meta is not None:
                sandbox, source = await self.saver.start_new(params, image, meta), "snapshot"
            else:
                sandbox, source = await self.launcher.claim(params, image)
            record = SandboxRecord(
                sandbox_id=sandbox_id,
                runtime_id=sandbox.sandbox_id,
                template_id=params.template_id,
                resources=params.resources,
                address=str(sandbox.address),
                start_time=utcnow(),
                end_time=params.end_time,
                build_id=params.build_id,
                team_id=params.team_id,
                env_vars=dict(params.env_vars),
                metadata=dict(params.metadata),
                allow_internet_access=params.allow_internet_access,
                envd_access_token=params.envd_access_token,
                auto_pause=params.auto_pause,
                auto_resume=params.auto_resume,
                auto_pause_memory=params.auto_pause_memory,
                timeout_seconds=params.timeout_seconds,
            )
            try:
                await self.registry.put(record)
            except BaseException:
                await self.launcher.discard(sandbox.sandbox_id)
                raise
        finally:
            self._creating.discard(sandbox_id)
            if not params.snapshot_id:
                self.pool.ensure(params.pool_key)  # refill what was taken, or this shape's pool
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        log.info("sandbox created", **_ids(record), source=source, ms=elapsed_ms)
        return record

    # --- the life of a sandbox ------------------------------------------------------------

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.registry.get(sandbox_id)
        if record is None:
            raise SandboxNotFound(f"sandbox {sandbox_id} not found")
        return record

    def list(self, *, team_id: str = "", state: SandboxState | None = None) -> list[SandboxRecord]:
        return [
            record
            for record in self.registry
            if (not team_id or record.team_id == team_id)
            and (state is None or record.state == state)
        ]

    async def delete(self, sandbox_id: str) -> None:
        async with self._locked(sandbox_id) as record:
            await self._kill(record)

    async def set_timeout(self, sandbox_id: str, end_time: datetime) -> SandboxRecord:
        async with self._locked(sandbox_id) as record:
            _require(record, "running", "set the timeout of")
            record = record.evolve(end_time=end_time)
            await self.registry.put(record)
            return record

    async def pause(self, sandbox_id: str, *, memory: bool = True) -> SandboxRecord:
        async with self._locked(sandbox_id) as record:
            _require(record, "running", "pause")
            return await self._pause(record, memory=memory)

    async def resume(self, sandbox_id: str, end_time: datetime, team_id: str = "") -> SandboxRecord:
        """Back to running, reported so only once envd answers again. A sandbox this node does
        not know is looked for among the pauses saved in the artifact store."""
        if self.registry.get(sandbox_id) is None:
            await self._adopt(sandbox_id)
        async with self._locked(sandbox_id) as record:
            if team_id and record.team_id != team_id:
                raise SandboxNotFound(f"sandbox {sandbox_id} not found")
            _require(record, "paused", "resume")
            return await self.pauses.resume(record, end_time)

    async def _adopt(self, sandbox_id: str) -> None:
        """Take over a sandbox paused on another node, from its pause in the artifact store."""
        check_sandbox_id(sandbox_id)
        async with self._locks.setdefault(sandbox_id, asyncio.Lock()):
            if self.registry.get(sandbox_id) is None:
                await self.pauses.adopt(sandbox_id)

    async def snapshot(self, sandbox_id: str, snapshot_id: str, *, memory: bool) -> SnapshotMeta:
        """Save a running sandbox as `snapshot_id`; it keeps running (after a short pause)."""
        check_sandbox_id(snapshot_id)
        async with self._locked(sandbox_id) as record:
            _require(record, "running", "snapshot")
            meta = await self.saver.save(record, snapshot_id, memory=memory, keep=True)
            log.info("sandbox snapshotted", **_ids(record), snapshot_id=snapshot_id)
            return meta

    async def delete_snapshot(self, snapshot_id: str) -> None:
        check_sandbox_id(snapshot_id)
        if any(r.snapshot_id == snapshot_id for r in self.registry):
            raise StateConflict(f"snapshot {snapshot_id} holds a paused sandbox: kill it instead")
        await self.snapshots.delete(snapshot_id)

    async def metrics(self, sandbox_id: str) -> SandboxMetrics:
        """Resource use now (`usage.py`): running sandboxes only."""
        record = self.get(sandbox_id)
        if record.state != "running":
            raise StateConflict(f"sandbox {sandbox_id} is {record.state}: no metrics")
        return await self.usage.measure(record)

    async def logs(self, sandbox_id: str, query: LogQuery) -> Sequence[LogEntry]:
        """envd's log of a running or paused sandbox, read off the event loop."""
        record = self.get(sandbox_id)
        return await asyncio.to_thread(read_log, self.driver.log_path(record.runtime_id), query)

    async def expire(self, sandbox_id: str) -> None:
        """The reaper's entry: act on a timeout that is still due once the lock is held."""
        async with self._locks.setdefault(sandbox_id, asyncio.Lock()):
            record = self.registry.get(sandbox_id)
            if record is None or record.state != "running" or record.end_time > utcnow():
                return
            await self._on_timeout(record)

    async def bury(self, sandbox_id: str) -> None:
        """The reaper's entry for a sandbox that died on its own: confirmed under the lock (a
        pause or create may have been in flight), then its leftovers removed and it forgotten."""
        async with self._locks.setdefault(sandbox_id, asyncio.Lock()):
            record = self.registry.get(sandbox_id)
            if record is None or record.state != "running":
                return
            if record.runtime_id in await self.driver.alive():
                return
            log.warning("sandbox died on its own", **_ids(record))
            await self._kill(record)

    async def _on_timeout(self, record: SandboxRecord) -> None:
        """What the end of a sandbox's time does: pause it if it asked for that, else kill it.

        A pause that fails kills instead: the sandbox's time is up either way, and one left
        running would be retried (and fail) on every sweep.
        """
        log.info("sandbox timed out", **_ids(record), auto_pause=record.auto_pause)
        if record.auto_pause:
            try:
                await self._pause(record, memory=record.auto_pause_memory)
                return
            except Exception as exc:
                log.error("pause at timeout failed: killing", **_ids(record), error=str(exc))
        await self._kill(record)

    async def _pause(self, record: SandboxRecord, *, memory: bool = True) -> SandboxRecord:
        """Pause a running sandbox (its lock held); its end time stays as it was, unused."""
        self.usage.forget(record.sandbox_id)
        return await self.pauses.pause(record, memory=memory)

    async def _kill(self, record: SandboxRecord) -> None:
        """Forgotten first, so nobody is told about a sandbox being torn down; should the
        teardown fail, what is left is an orphan that the next start's cleanup removes."""
        self.usage.forget(record.sandbox_id)
        await self.registry.remove(record.sandbox_id)
        address, token = record.address, record.envd_access_token
        if record.state == "paused" and record.snapshot_id:
            await self.pauses.discard(record)
        elif record.state == "running":
            await self.driver.destroy(
                record.runtime_id, lambda: self.envd.prepare_snapshot(address, token)
            )
        else:
            await self.driver.destroy(record.runtime_id)
        self._locks.pop(record.sandbox_id, None)
        log.info("sandbox killed", **_ids(record))

    @asynccontextmanager
    async def _locked(self, sandbox_id: str) -> AsyncIterator[SandboxRecord]:
        """The sandbox's lock, then its current record: looked up again once the lock is held,
        so a sandbox killed meanwhile is reported as not found. Unknown ids get no lock."""
        self.get(sandbox_id)
        async with self._locks.setdefault(sandbox_id, asyncio.Lock()):
            yield self.get(sandbox_id)

    # --- node -----------------------------------------------------------------------------

    def status(self) -> NodeStatus:
        records = list(self.registry)
        return NodeStatus(
            node_id=socket.gethostname(),
            runtime=self.driver.name,
            started_at=self.started_at,
            cpus=os.cpu_count() or 1,
            memory_mb=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
            running=sum(r.state == "running" for r in records),
            paused=sum(r.state == "paused" for r in records),
            allocated_vcpu=sum(r.resources.vcpu for r in records),
            allocated_memory_mb=sum(r.resources.memory_mb for r in records),
            pools=self.pool.status(),
        )


def _require(record: SandboxRecord, state: SandboxState, action: str) -> None:
    if record.state != state:
        raise StateConflict(f"cannot {action} sandbox {record.sandbox_id}: it is {record.state}")
