"""The timeout clock: a periodic sweep that hands every sandbox past its end time to `expire`.

One sweep over the in-memory records per interval costs microseconds even with thousands of
sandboxes, and needs no timer per sandbox to keep in step with `SetTimeout`, pauses and
restarts: the end time in the record is the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from corral import logs
from corral.orchestrator.models import utcnow
from corral.orchestrator.registry import Registry

log = logs.get("orchestrator.reaper")

Expire = Callable[[str], Awaitable[None]]
"""Called with a sandbox id whose end time has passed; re-checks it under the sandbox's lock."""


class Reaper:
    def __init__(self, registry: Registry, expire: Expire, interval: float) -> None:
        self.registry = registry
        self.expire = expire
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> list[str]:
        """Expire every running sandbox past its end time; returns their ids."""
        now = utcnow()
        due = [r.sandbox_id for r in self.registry if r.state == "running" and r.end_time <= now]
        results = await asyncio.gather(*(self.expire(sid) for sid in due), return_exceptions=True)
        for sandbox_id, result in zip(due, results, strict=True):
            if isinstance(result, Exception):
                log.error("expiring sandbox failed", sandbox_id=sandbox_id, error=str(result))
        return due

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("reaper sweep failed")
