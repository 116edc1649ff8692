"""The node's template builder wired to the node: buildah storage, artifacts, sandbox checks.

A build's last step starts a real sandbox from the exported template, through the same
launcher that serves creates, and runs its start and ready commands: a template that cannot
start a working sandbox never becomes ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from corral import logs
from corral.orchestrator.errors import BuilderUnavailable, InvalidRequest, OrchestratorError
from corral.orchestrator.node import Node
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import NodeTemplates
from corral.runtime.types import SandboxSpec
from corral.templates.buildah import Buildah, pick_driver
from corral.templates.builder import Builder, BuildRequest
from corral.templates.errors import BuildFailed, InvalidBuildSpec
from corral.templates.images import SNAPSHOT, TemplateImage, valid_build_id
from corral.templates.journal import BuildJournal, BuildState
from corral.templates.spec import parse_spec
from corral.templates.store import open_store

log = logs.get("orchestrator.builds")

SWEEP_SECONDS = 60.0
"""How often files of deleted templates are looked at again (once no sandbox uses them)."""

OFFLINE_DEBIAN = "docker.io/library/debian:bookworm"
"""The node's debootstrap Debian (the `base` template's root filesystem), importable with no
registry: `FROM debian:bookworm` builds offline."""


class TemplateBuilds:
    def __init__(
        self, node: Node, templates: NodeTemplates, settings: OrchestratorSettings
    ) -> None:
        self.node = node
        self.templates = templates
        self.built = templates.built
        self.settings = settings
        self.journal = BuildJournal(settings.data_dir / "builds")
        self.builder: Builder | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_every(SWEEP_SECONDS), name="template-sweep")
        if not Buildah.available():
            log.warning("buildah is not installed: this node cannot build templates")
            return
        root = self.settings.data_dir / "buildah"
        runroot = Path("/run") / self.settings.instance / "buildah"
        driver = await pick_driver(root, runroot)
        self.builder = Builder(
            buildah=Buildah(root / driver, runroot / driver, driver),
            store=open_store(self.settings.artifacts or str(self.settings.data_dir / "artifacts")),
            journal=self.journal,
            templates=self.built,
            work_dir=self.settings.data_dir / "builds" / ".work",
            resolve=self.node.templates.image,
            check=self.check,
        )
        bundle = Path(self.settings.build_ca_bundle) if self.settings.build_ca_bundle else None
        if bundle is not None and bundle.is_file():
            self.builder.ca_bundle = bundle
        try:
            base = self.templates.static.image("base").rootfs
        except OrchestratorError:
            pass
        else:
            self.builder.offline_images[OFFLINE_DEBIAN] = base
        log.info("template builder ready", storage_driver=driver)

    async def _sweep_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                self.sweep()
            except OSError as exc:
                log.warning("template sweep failed", error=str(exc))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self.builder is not None:
            await self.builder.close()
            await self.builder.buildah.release_mounts()

    def start_build(
        self,
        build_id: str,
        template_id: str,
        spec_json: str,
        base_template_id: str,
        base_build_id: str,
    ) -> BuildState:
        if self.builder is None:
            raise BuilderUnavailable("this node has no template builder (is buildah installed?)")
        if not valid_build_id(build_id) or len(build_id) > 64:
            raise InvalidRequest(f"invalid build id {build_id!r}")
        try:
            spec = parse_spec(json.loads(spec_json))
        except (ValueError, InvalidBuildSpec) as exc:
            raise InvalidRequest(str(exc)) from exc
        request = BuildRequest(build_id, template_id, spec, base_template_id, base_build_id)
        return self.builder.start(request)

    def get(self, build_id: str) -> BuildState | None:
        return self.journal.get(build_id)

    def _in_use(self) -> set[str]:
        return {record.build_id for record in self.node.registry if record.build_id}

    async def delete(self, build_id: str) -> None:
        """Unpublish a build; its files go now, or once the last sandbox on them is gone."""
        await self.node.launcher.pool.drop(build_id)
        keep = build_id in self._in_use()
        if self.builder is not None:
            await self.builder.delete(build_id, keep_files=keep)
        elif keep:
            self.built.unpublish(build_id)
        else:
            self.built.remove(build_id)

    def sweep(self) -> None:
        removed = self.built.sweep(self._in_use() | set(self.journal.running()))
        if removed:
            log.info("removed deleted templates' files", builds=removed)

    async def check(self, image: TemplateImage) -> dict[str, object]:
        """A throwaway sandbox from the template: envd answers, start and ready commands work.
        Where the runtime can, the ready sandbox is then saved as the template's snapshot."""
        launcher = self.node.launcher
        resources = self.node.default_resources
        spec = SandboxSpec(
            sandbox_id=f"rt-build-{image.key[:20]}",
            template_id=image.key,
            rootfs=image.rootfs,
            resources=resources,
            internet=True,
        )
        sandbox = await launcher.start(spec)
        saved = False
        try:
            await launcher.run_template_start(sandbox, image)
            key = self.node.driver.snapshot_key()
            if key is None or not self.settings.template_snapshots:
                return {}
            address = str(sandbox.address)
            await self.node.driver.snapshot(
                sandbox.sandbox_id,
                image.rootfs.parent / SNAPSHOT,
                lambda: self.node.envd.prepare_snapshot(address, None),
            )
            saved = True
            return {"snapshot_key": key}
        except OrchestratorError as exc:
            raise BuildFailed(str(exc), "finalize") from exc
        finally:
            if not saved:
                await launcher.discard(sandbox.sandbox_id)
