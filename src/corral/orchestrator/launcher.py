"""Getting a sandbox ready: from the warm pool or the driver, answering, personalised.

Everything here either hands back a sandbox that is fully the caller's, or destroys what it
made before raising, including when the caller is cancelled (a client that gave up): the
registry never learns of half-made sandboxes, and the driver is not left holding them.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Literal

from corral import logs
from corral.orchestrator.envd_client import EnvdClient
from corral.orchestrator.envd_process import EnvdCommands
from corral.orchestrator.errors import SandboxNotReady
from corral.orchestrator.models import CreateParams, PoolKey
from corral.orchestrator.pool import WarmPool
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import TemplateCatalog, TemplateImage
from corral.runtime.types import Driver, RuntimeSandbox, SandboxSpec

log = logs.get("orchestrator.launcher")

Source = Literal["pool", "cold"]


def new_runtime_id() -> str:
    """The driver's name for a sandbox: made before any sandbox id exists (pools)."""
    return f"rt-{secrets.token_hex(6)}"


class Launcher:
    def __init__(
        self,
        *,
        driver: Driver,
        templates: TemplateCatalog,
        envd: EnvdClient,
        settings: OrchestratorSettings,
    ) -> None:
        self.driver = driver
        self.templates = templates
        self.envd = envd
        self.settings = settings
        self.pool = WarmPool(
            size=settings.pool_size,
            concurrency=settings.pool_refill_concurrency,
            max_shapes=settings.pool_max_shapes,
            start=self.start_pooled,
            destroy=self.discard,
        )
        self._background: set[asyncio.Task[None]] = set()

    async def claim(
        self, params: CreateParams, image: TemplateImage
    ) -> tuple[RuntimeSandbox, Source]:
        """A pooled sandbox when one is ready and takes its configuration, else a cold start.

        Cold starts go straight to the driver, never through the pool's refill slots, so a
        create that misses the pool does not wait behind refills.
        """
        while (pooled := self.pool.take(params.pool_key)) is not None:
            try:
                await self.personalise(
                    pooled,
                    params,
                    image,
                    open_network=params.allow_internet_access,
                    template_ready=True,
                )
            except Exception as exc:
                log.warning("pooled sandbox unusable", runtime_id=pooled.sandbox_id, error=str(exc))
                await self.discard(pooled.sandbox_id)
                continue
            except BaseException:
                await self.discard(pooled.sandbox_id)
                raise
            return pooled, "pool"
        spec = SandboxSpec(
            sandbox_id=new_runtime_id(),
            template_id=params.template_id,
            rootfs=image.rootfs,
            resources=params.resources,
            internet=params.allow_internet_access,
            snapshot=self.snapshot_of(image),
        )
        sandbox = await self.start(spec)
        try:
            await self.personalise(sandbox, params, image, open_network=False)
        except BaseException:
            await self.discard(sandbox.sandbox_id)
            raise
        return sandbox, "cold"

    async def personalise(
        self,
        sandbox: RuntimeSandbox,
        params: CreateParams,
        image: TemplateImage,
        *,
        open_network: bool,
        template_ready: bool = False,
    ) -> None:
        """envd's `/init` and, for a pooled sandbox (started offline), the network policy; the
        two run together, as neither needs the other. Then the template's start command, if it
        has one, waited for through its ready command, unless the sandbox is `template_ready`
        (a pool sandbox that ran it already) or comes from the template's snapshot."""
        steps = [self._init(str(sandbox.address), image, params.env_vars, params.envd_access_token)]
        if open_network:
            steps.append(self.driver.set_internet(sandbox.sandbox_id, True))
        for result in await asyncio.gather(*steps, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
        if template_ready or self.snapshot_of(image) is not None:
            return
        if image.start_cmd or image.ready_cmd:
            await self.start_template_command(str(sandbox.address), image, params.envd_access_token)

    async def personalise_restored(
        self,
        sandbox: RuntimeSandbox,
        params: CreateParams,
        image: TemplateImage,
        *,
        memory: bool,
        current_token: str | None,
    ) -> None:
        """A sandbox started from another's snapshot made this create's. From its memory, envd
        still holds the source's token (`current_token`), which it gives up for this one's;
        from its files only, it booted afresh, so the template's start command runs again."""
        address = str(sandbox.address)
        await self._init(address, image, params.env_vars, params.envd_access_token, current_token)
        if not memory and (image.start_cmd or image.ready_cmd):
            await self.start_template_command(address, image, params.envd_access_token)

    async def _init(
        self,
        address: str,
        image: TemplateImage,
        env_vars: dict[str, str],
        access_token: str | None,
        current_token: str | None = None,
    ) -> None:
        """envd's `/init`: the template's env under the create's, its default user and workdir."""
        await self.envd.init(
            address,
            env_vars={**image.env, **env_vars},
            access_token=access_token,
            default_user=image.user or self.settings.sandbox_user,
            default_workdir=image.workdir,
            current_token=current_token,
        )

    async def run_template_start(self, sandbox: RuntimeSandbox, image: TemplateImage) -> None:
        """In a sandbox no create holds yet (a pool fill, a build's check): envd set up with the
        template's env only, then its start and ready commands, as E2B runs them at build
        time (so the start command never sees a create's env or token)."""
        address = str(sandbox.address)
        await self._init(address, image, {}, None)
        if image.start_cmd or image.ready_cmd:
            await self.start_template_command(address, image, None)

    def snapshot_of(self, image: TemplateImage) -> Path | None:
        """The template's snapshot, when this node's driver can start from it."""
        if image.snapshot is None or image.snapshot_key != self.driver.snapshot_key():
            return None
        return image.snapshot

    async def start_template_command(
        self, address: str, image: TemplateImage, access_token: str | None
    ) -> None:
        """E2B's start command: run in the background, then the ready command polled until it
        exits 0 (`SandboxNotReady` after `template_ready_timeout`)."""
        commands = EnvdCommands(self.envd.http, self.envd.port)
        user = image.user or self.settings.sandbox_user
        if image.start_cmd:
            await commands.start(
                address, image.start_cmd, user=user, cwd=image.workdir, access_token=access_token
            )
        if not image.ready_cmd:
            return
        deadline = asyncio.get_running_loop().time() + self.settings.template_ready_timeout
        last = ""
        while True:
            result = await commands.run(
                address, image.ready_cmd, user=user, cwd=image.workdir, access_token=access_token
            )
            if result.exit_code == 0:
                return
            last = result.output.strip()[-500:]
            if asyncio.get_running_loop().time() >= deadline:
                within = self.settings.template_ready_timeout
                raise SandboxNotReady(
                    f"ready command did not succeed within {within:g}s"
                    + (f" (last output: {last})" if last else "")
                )
            await asyncio.sleep(0.2)

    async def start_pooled(self, key: PoolKey) -> RuntimeSandbox:
        """A pool sandbox: started offline, answering, warmed, not personalised.

        envd loads what a create needs right after its first `/health` (see `envd/app.py`),
        holding its event loop meanwhile: a second `/health` is answered only once that is
        done, so a sandbox counts as ready in the pool only when a create will not wait for it.
        """
        image = self.templates.image(key.template_id)
        spec = SandboxSpec(
            sandbox_id=new_runtime_id(),
            template_id=key.template_id,
            rootfs=image.rootfs,
            resources=key.resources,
            internet=False,
            snapshot=self.snapshot_of(image),
        )
        sandbox = await self.start(spec, health_checks=2)
        if spec.snapshot is None and (image.start_cmd or image.ready_cmd):
            # As a snapshot would have it: the start command up before any create.
            try:
                await self.run_template_start(sandbox, image)
            except BaseException:
                await self.discard(sandbox.sandbox_id)
                raise
        return sandbox

    async def start(self, spec: SandboxSpec, health_checks: int = 1) -> RuntimeSandbox:
        """Create through the driver and wait for envd (`health_checks` answers in a row);
        tear down on any failure."""
        sandbox = await self._driver_create(spec)
        try:
            for _ in range(health_checks):
                await self.envd.wait_healthy(str(sandbox.address), self.settings.readiness_timeout)
        except BaseException:
            await self.discard(sandbox.sandbox_id)
            raise
        return sandbox

    async def _driver_create(self, spec: SandboxSpec) -> RuntimeSandbox:
        """`driver.create`, finished even when our caller is cancelled, so that a sandbox made
        for a caller that went away is destroyed instead of leaked until the next restart."""
        task = asyncio.ensure_future(self.driver.create(spec))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(self._destroy_abandoned)
            raise

    def _destroy_abandoned(self, task: asyncio.Future[RuntimeSandbox]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        cleanup = asyncio.ensure_future(self.discard(task.result().sandbox_id))
        self._background.add(cleanup)
        cleanup.add_done_callback(self._background.discard)

    async def discard(self, runtime_id: str) -> None:
        """Destroy a sandbox nobody holds; errors are logged (orphan cleanup catches leftovers)."""
        try:
            await asyncio.shield(self.driver.destroy(runtime_id))
        except Exception as exc:
            log.error("destroying sandbox failed", runtime_id=runtime_id, error=str(exc))

    async def close(self) -> None:
        """Destroy pool sandboxes (refills in flight get `shutdown_grace` to finish)."""
        await self.pool.close(self.settings.shutdown_grace)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
