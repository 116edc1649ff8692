"""Saving running sandboxes as snapshots, and starting sandboxes from them.

One mechanism serves three features: a pause whose state is saved (gVisor's full pause, every
filesystem pause), a named snapshot, and a fork's source. Saving goes through the driver
(`Driver.snapshot`) into the node's snapshot cache and the artifact store
(`snapshots.py`); starting goes through the launcher, like any cold start, with the snapshot as
the sandbox's starting point.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from corral import logs
from corral.orchestrator.envd_client import EnvdClient
from corral.orchestrator.envd_process import EnvdCommands
from corral.orchestrator.errors import StateConflict
from corral.orchestrator.launcher import Launcher, new_runtime_id
from corral.orchestrator.models import CreateParams, SandboxRecord, utcnow
from corral.orchestrator.snapshots import NodeSnapshots, SnapshotMeta
from corral.orchestrator.templates import TemplateImage
from corral.runtime.types import Driver, RuntimeSandbox, SandboxSpec

log = logs.get("orchestrator.saving")


class SandboxSaver:
    def __init__(
        self,
        *,
        driver: Driver,
        launcher: Launcher,
        envd: EnvdClient,
        snapshots: NodeSnapshots,
    ) -> None:
        self.driver = driver
        self.launcher = launcher
        self.envd = envd
        self.snapshots = snapshots

    def check_memory(self, memory: bool) -> None:
        if memory and not self.driver.checkpoints:
            raise StateConflict(
                f"this node's runtime ({self.driver.name}) cannot save a sandbox's memory:"
                " only filesystem snapshots here (run the node with runsc for memory ones)"
            )

    async def save(
        self,
        record: SandboxRecord,
        snapshot_id: str,
        *,
        memory: bool,
        keep: bool,
        paused: SandboxRecord | None = None,
    ) -> SnapshotMeta:
        """Save the running sandbox as `snapshot_id`; it is removed unless it is to `keep`
        running. `paused`: the record of the sandbox this snapshot holds while paused."""
        self.check_memory(memory)
        dest = self.snapshots.prepare(snapshot_id)
        try:
            await self.driver.snapshot(
                record.runtime_id, dest, self._quiesce(record, memory), memory=memory, keep=keep
            )
            meta = SnapshotMeta(
                snapshot_id=snapshot_id,
                template_id=record.template_id,
                build_id=record.build_id,
                resources=record.resources,
                memory=memory,
                runtime_key=(self.driver.snapshot_key() or "") if memory else "",
                created_at=utcnow(),
                source_sandbox_id=record.sandbox_id,
                paused=None if paused is None else paused.to_json(),
                envd_token=record.envd_access_token,
            )
        except BaseException:
            self.snapshots.drop_cached(snapshot_id)
            raise
        try:
            return await self.snapshots.save(meta)
        except Exception as exc:
            if keep:
                self.snapshots.drop_cached(snapshot_id)
                raise
            # The sandbox is gone by now: its pause lives on in this node's cache, and a
            # restart of the node tries the store again.
            log.error("saving a pause to the store failed", snapshot_id=snapshot_id, error=str(exc))
            return meta

    def _quiesce(self, record: SandboxRecord, memory: bool) -> Callable[[], Awaitable[None]]:
        """What runs before the save: envd drops its connections (none may be in a memory
        image), or the sandbox flushes its files (gVisor buffers writes in its own kernel)."""
        address, token = record.address, record.envd_access_token

        async def flush() -> None:
            commands = EnvdCommands(self.envd.http, self.envd.port)
            await commands.run(address, "sync", user="root", access_token=token, timeout=30.0)

        if memory:
            return lambda: self.envd.prepare_snapshot(address, token)
        return flush

    async def start(
        self,
        snapshot_id: str,
        image: TemplateImage,
        meta: SnapshotMeta,
        *,
        internet: bool,
        continues: bool = False,
    ) -> RuntimeSandbox:
        """A sandbox started from the (cached) snapshot: restored from its memory, or booted
        on its files; envd answers when this returns. One that `continues` the saved sandbox
        (a resume) carries its log on."""
        if meta.memory and meta.runtime_key != self.driver.snapshot_key():
            raise StateConflict(
                f"snapshot {snapshot_id} holds memory saved by {meta.runtime_key or 'another'}"
                f" runtime; this node ({self.driver.snapshot_key()}) cannot restore it"
            )
        spec = SandboxSpec(
            sandbox_id=new_runtime_id(),
            template_id=meta.template_id,
            rootfs=image.rootfs,
            resources=meta.resources,
            internet=internet,
            snapshot=self.snapshots.state(snapshot_id),
            log_from=self.snapshots.state(snapshot_id) / "envd.log" if continues else None,
        )
        return await self.launcher.start(spec)

    async def start_new(
        self, params: CreateParams, image: TemplateImage, meta: SnapshotMeta
    ) -> RuntimeSandbox:
        """A new sandbox (its own id, token and env) from a named snapshot or a fork's source."""
        sandbox = await self.start(
            meta.snapshot_id, image, meta, internet=params.allow_internet_access
        )
        try:
            await self.launcher.personalise_restored(
                sandbox,
                params,
                image,
                memory=meta.memory,
                current_token=meta.envd_token if meta.memory else None,
            )
        except BaseException:
            await self.launcher.discard(sandbox.sandbox_id)
            raise
        return sandbox
