"""How the node pauses and resumes a sandbox, the caller holding the sandbox's lock.

What a pause keeps depends on what the runtime can do. Saved as a snapshot (`saving.py`) and
removed from the host: a gVisor full pause (its memory image) and every filesystem pause; the
snapshot is in the artifact store too, so a node that does not know the sandbox (its own node
gone) can adopt and resume it. Frozen in place (the cgroup freezer, memory kept in RAM): crun's
full pause, as crun here cannot checkpoint.
"""

from __future__ import annotations

from datetime import datetime

from corral import logs
from corral.orchestrator.envd_client import EnvdClient
from corral.orchestrator.errors import SandboxNotFound, SandboxNotReady, SnapshotNotFound
from corral.orchestrator.launcher import Launcher
from corral.orchestrator.models import CreateParams, SandboxRecord
from corral.orchestrator.registry import Registry
from corral.orchestrator.saving import SandboxSaver
from corral.orchestrator.snapshots import paused_snapshot_id
from corral.orchestrator.templates import TemplateCatalog
from corral.runtime.errors import DriverError
from corral.runtime.types import Driver

log = logs.get("orchestrator.pauses")


class Pauses:
    def __init__(
        self,
        *,
        driver: Driver,
        envd: EnvdClient,
        launcher: Launcher,
        templates: TemplateCatalog,
        registry: Registry,
        saver: SandboxSaver,
        readiness_timeout: float,
    ) -> None:
        self.driver = driver
        self.envd = envd
        self.launcher = launcher
        self.templates = templates
        self.registry = registry
        self.saver = saver
        self.snapshots = saver.snapshots
        self.readiness_timeout = readiness_timeout

    async def pause(self, record: SandboxRecord, *, memory: bool) -> SandboxRecord:
        """Pause the running sandbox and record it paused."""
        if memory and not self.driver.checkpoints:
            address, token = record.address, record.envd_access_token
            await self.driver.pause(
                record.runtime_id, lambda: self.envd.prepare_snapshot(address, token)
            )
            record = record.evolve(state="paused", paused_memory=True, snapshot_id="")
        else:
            paused = record.evolve(
                state="paused",
                paused_memory=memory,
                snapshot_id=paused_snapshot_id(record.sandbox_id),
            )
            await self.saver.save(
                record, paused.snapshot_id, memory=memory, keep=False, paused=paused
            )
            record = paused
        await self.registry.put(record)
        log.info("sandbox paused", **ids(record), memory=memory)
        return record

    async def resume(self, record: SandboxRecord, end_time: datetime) -> SandboxRecord:
        """Back to running, recorded so only once envd answers again."""
        if record.snapshot_id:
            return await self._resume_saved(record, end_time)
        sandbox = await self.driver.resume(record.runtime_id)
        try:
            await self.envd.wait_healthy(str(sandbox.address), self.readiness_timeout)
        except SandboxNotReady:
            try:
                await self.driver.pause(record.runtime_id)
            except DriverError as exc:
                log.error("re-pausing unready sandbox failed", **ids(record), error=str(exc))
            raise
        record = record.evolve(state="running", address=str(sandbox.address), end_time=end_time)
        await self.registry.put(record)
        log.info("sandbox resumed", **ids(record))
        return record

    async def _resume_saved(self, record: SandboxRecord, end_time: datetime) -> SandboxRecord:
        """A new runtime sandbox from the saved pause, under the same sandbox id: restored from
        its memory (envd kept its token and env), or booted on its files and set up again."""
        snapshot_id = record.snapshot_id
        meta = await self.snapshots.fetch(snapshot_id)
        image = self.templates.image(meta.template_id, meta.build_id)
        sandbox = await self.saver.start(
            snapshot_id, image, meta, internet=record.allow_internet_access, continues=True
        )
        if not meta.memory:
            try:
                await self.launcher.personalise_restored(
                    sandbox, _params_of(record), image, memory=False, current_token=None
                )
            except BaseException:
                await self.launcher.discard(sandbox.sandbox_id)
                raise
        record = record.evolve(
            state="running",
            runtime_id=sandbox.sandbox_id,
            address=str(sandbox.address),
            end_time=end_time,
            snapshot_id="",
        )
        await self.registry.put(record)
        try:
            await self.snapshots.delete(snapshot_id)
        except Exception as exc:
            log.error("removing a resumed sandbox's snapshot failed", **ids(record), error=str(exc))
        log.info("sandbox resumed", **ids(record), memory=meta.memory)
        return record

    async def adopt(self, sandbox_id: str) -> SandboxRecord:
        """Record here a sandbox paused on another node, from its pause in the artifact store;
        `SandboxNotFound` when the store has none."""
        try:
            meta = await self.snapshots.meta(paused_snapshot_id(sandbox_id))
        except SnapshotNotFound:
            raise SandboxNotFound(f"sandbox {sandbox_id} not found") from None
        if meta.paused is None:
            raise SandboxNotFound(f"sandbox {sandbox_id} not found")
        record = SandboxRecord.from_json(meta.paused)
        await self.registry.put(record)
        log.info("paused sandbox adopted from the artifact store", **ids(record))
        return record

    async def recover(self, record: SandboxRecord) -> None:
        """After a restart: a saved pause stays, unless its snapshot is gone from the store
        once published there: then another node resumed it (or it was killed there) while
        this one was down. One not published yet is published now."""
        snapshot_id = record.snapshot_id
        if await self.snapshots.stored(snapshot_id):
            return
        if self.snapshots.cached(snapshot_id) and not self.snapshots.published(snapshot_id):
            try:
                await self.snapshots.publish(snapshot_id)
            except Exception as exc:
                log.error("saving a pause to the store failed again", **ids(record), error=str(exc))
            return
        log.warning("paused sandbox resumed or killed elsewhere", **ids(record))
        await self.registry.remove(record.sandbox_id)
        self.snapshots.drop_cached(snapshot_id)

    async def discard(self, record: SandboxRecord) -> None:
        """A saved pause's remains, when its sandbox is killed."""
        await self.snapshots.delete(record.snapshot_id)


def _params_of(record: SandboxRecord) -> CreateParams:
    """What setting a booted sandbox up again needs: the create's env, token and template."""
    return CreateParams(
        sandbox_id=record.sandbox_id,
        template_id=record.template_id,
        resources=record.resources,
        end_time=record.end_time,
        build_id=record.build_id,
        team_id=record.team_id,
        env_vars=dict(record.env_vars),
        allow_internet_access=record.allow_internet_access,
        envd_access_token=record.envd_access_token,
    )


def ids(record: SandboxRecord) -> dict[str, str]:
    return {"sandbox_id": record.sandbox_id, "runtime_id": record.runtime_id}
