"""A code context: one kernel, its language and working directory, one execution at a time.

Each `run_code` becomes a `Run`, driven by a task of the context rather than of the HTTP
request: the request only reads the lines. So when the client goes away (the SDK's `timeout`
closes the connection), the kernel is interrupted and the context waits for it to settle
before the next run, instead of the lock dying with the request. A kernel that ignores the
interrupt for `interrupt_grace` seconds, or dies, is replaced by a new one (the context keeps
its id; its state is lost, as with E2B's restart).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from corral import logs
from corral.interpreter import envcode, outputs
from corral.interpreter.errors import KernelFailed
from corral.interpreter.execution import Execution
from corral.interpreter.kernel import Kernel
from corral.interpreter.languages import kernel_command
from corral.interpreter.outputs import Line
from corral.interpreter.sandbox_env import sandbox_env
from corral.interpreter.settings import Settings

log = logs.get("interpreter.context")

RESTARTED = outputs.error("ContextRestarting", "Context was restarted")
KERNEL_DIED = outputs.error(
    "ContextRestarting", "The context's kernel exited and was restarted; its state is lost"
)
NOT_INTERRUPTIBLE = outputs.error(
    "ContextRestarting",
    "The execution did not stop when interrupted; the context was restarted and its state is lost",
)
REMOVED = outputs.error("ContextRemoved", "Context was removed")

WATCH_INTERVAL = 1.0
"""Seconds between checks that a busy kernel is still alive."""


class Run:
    """One `run_code` request: the execution, once the context has started it."""

    def __init__(self) -> None:
        self.started: asyncio.Future[Execution] = asyncio.get_running_loop().create_future()
        self.abandoned = False
        self.interrupted_at: float | None = None


class CodeContext:
    def __init__(self, language: str, cwd: str, settings: Settings, runtime_dir: Path) -> None:
        self.id = str(uuid.uuid4())
        self.language = language
        self.cwd = cwd
        self._settings = settings
        self._runtime_dir = runtime_dir
        self._command = kernel_command(language, settings)
        self._kernel: Kernel | None = None
        self._run_lock = asyncio.Lock()
        self._kernel_lock = asyncio.Lock()
        self._drivers: set[asyncio.Task[None]] = set()
        self._closed = False

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "language": self.language, "cwd": self.cwd}

    async def start(self) -> None:
        async with self._kernel_lock:
            if self._kernel is None:
                self._kernel = await self._new_kernel()

    def run(self, code: str, env: Mapping[str, str] | None, access_token: str | None) -> Run:
        if env:
            envcode.validate(env, self._command.family)
        run = Run()
        task = asyncio.create_task(self._drive(run, code, dict(env or {}), access_token))
        self._drivers.add(task)
        task.add_done_callback(self._drivers.discard)
        return run

    def abandon(self, run: Run) -> None:
        """The client is gone: drop a run still queued, interrupt one that is running."""
        run.abandoned = True
        if not run.started.done() or run.started.result().done.is_set():
            return
        if run.interrupted_at is None and self._kernel is not None:
            run.interrupted_at = time.monotonic()
            task = asyncio.create_task(self._kernel.interrupt())
            self._drivers.add(task)
            task.add_done_callback(self._drivers.discard)

    async def restart(self) -> None:
        """A fresh kernel; executions in flight end with E2B's `ContextRestarting` error."""
        async with self._kernel_lock:
            old, self._kernel = self._kernel, None
            if old is not None:
                old.fail_all(RESTARTED)
                await old.shutdown()
            self._kernel = await self._new_kernel()

    async def close(self) -> None:
        self._closed = True
        async with self._kernel_lock:
            old, self._kernel = self._kernel, None
            if old is not None:
                old.fail_all(REMOVED)
                await old.shutdown()
        for task in list(self._drivers):
            task.cancel()

    async def _new_kernel(self) -> Kernel:
        kernel = Kernel(self._command, cwd=self.cwd, runtime_dir=self._runtime_dir)
        await kernel.start(self._settings.kernel_start_timeout)
        return kernel

    async def _live_kernel(self) -> Kernel:
        """The kernel to run on: started if missing, replaced if it died while idle."""
        async with self._kernel_lock:
            if self._closed:
                raise KernelFailed("the context was removed")
            if self._kernel is not None and not await self._kernel.is_alive():
                log.warning("kernel found dead, starting a new one", context=self.id)
                dead, self._kernel = self._kernel, None
                dead.fail_all(KERNEL_DIED)
                await dead.shutdown()
            if self._kernel is None:
                self._kernel = await self._new_kernel()
            return self._kernel

    async def _replace(self, kernel: Kernel, why: Line) -> None:
        async with self._kernel_lock:
            if self._kernel is not kernel or self._closed:
                return  # already restarted or removed meanwhile
            log.warning("replacing a kernel", context=self.id, reason=why["value"])
            self._kernel = None
            kernel.fail_all(why)
            await kernel.shutdown()
            self._kernel = await self._new_kernel()

    async def _drive(
        self, run: Run, code: str, env: dict[str, str], access_token: str | None
    ) -> None:
        try:
            async with self._run_lock:
                if run.abandoned:
                    run.started.cancel()
                    return
                kernel = await self._live_kernel()
                family = self._command.family
                if not kernel.sandbox_env_applied:
                    kernel.sandbox_env_applied = True
                    base = await sandbox_env(self._settings.envd_url, access_token)
                    if base:
                        kernel.execute(envcode.set_for_kernel(base, family), silent=True)
                setup = (
                    kernel.execute(envcode.set_for_run(env, family), silent=True) if env else None
                )
                execution = kernel.execute(code)
                run.started.set_result(execution)
                await self._settle(kernel, execution, run)
                if setup is not None and setup.error is not None:
                    log.warning("setting env vars failed", context=self.id, error=setup.error)
                if env and self._kernel is kernel:
                    restore = kernel.execute(envcode.restore_after_run(env, family), silent=True)
                    await self._settle(kernel, restore, None)
        except KernelFailed as exc:
            if not run.started.done():
                run.started.set_exception(exc)
            log.error("run failed", context=self.id, error=str(exc))
        except BaseException as exc:
            if not run.started.done():
                run.started.set_exception(KernelFailed(f"the run failed: {exc!r}"))
            raise

    async def _settle(self, kernel: Kernel, execution: Execution, run: Run | None) -> None:
        """Wait for `execution` to end; replace the kernel if it dies or ignores interrupts."""
        grace = self._settings.interrupt_grace
        waiter = asyncio.ensure_future(execution.done.wait())
        try:
            while not execution.done.is_set():
                wait = WATCH_INTERVAL
                if run is not None and run.interrupted_at is not None:
                    left = run.interrupted_at + grace - time.monotonic()
                    if left <= 0:
                        await self._replace(kernel, NOT_INTERRUPTIBLE)
                        return
                    wait = min(wait, left)
                done, _ = await asyncio.wait({waiter}, timeout=wait)
                if not done and not await kernel.is_alive():
                    await self._replace(kernel, KERNEL_DIED)
                    return
        finally:
            waiter.cancel()
