"""The timeout clock: a periodic sweep that hands every running sandbox past its end time to
`expire` (which kills it, or pauses it when it asked for that). Paused sandboxes are never
handed over: their clock stopped at the pause, and they are kept until deleted or resumed.

One sweep over the in-memory records per interval costs microseconds even with thousands of
sandboxes, and needs no timer per sandbox to keep in step with `SetTimeout`, pauses and
restarts: the end time in the record is the clock.

Every `liveness_every` sweeps it also asks the driver which sandboxes still exist (one runtime
call) and hands the running ones that vanished on their own to `bury`: a gVisor sandbox that
the host's OOM killer ended, a container whose envd crashed.
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
Alive = Callable[[], Awaitable[set[str]]]
"""The runtime ids of sandboxes that still exist on the host."""


class Reaper:
    def __init__(
        self,
        registry: Registry,
        expire: Expire,
        interval: float,
        *,
        alive: Alive | None = None,
        bury: Expire | None = None,
        liveness_every: int = 5,
    ) -> None:
        self.registry = registry
        self.expire = expire
        self.interval = interval
        self.alive, self.bury, self.liveness_every = alive, bury, liveness_every
        self._task: asyncio.Task[None] | None = None
        self._current: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reaper")

    async def stop(self) -> None:
        """Stop sweeping; a sweep in progress finishes first (a half-torn-down sandbox would
        leave mounts and namespaces behind until the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._current is not None:
            with contextlib.suppress(Exception):
                await self._current
            self._current = None

    async def sweep(self) -> list[str]:
        """Expire every running sandbox past its end time; returns their ids."""
        now = utcnow()
        due = [r.sandbox_id for r in self.registry if r.state == "running" and r.end_time <= now]
        results = await asyncio.gather(*(self.expire(sid) for sid in due), return_exceptions=True)
        for sandbox_id, result in zip(due, results, strict=True):
            if isinstance(result, Exception):
                log.error("expiring sandbox failed", sandbox_id=sandbox_id, error=str(result))
        return due

    async def find_dead(self) -> list[str]:
        """Bury every running sandbox whose processes are gone; returns their ids."""
        if self.alive is None or self.bury is None:
            return []
        alive = await self.alive()
        dead = [
            r.sandbox_id
            for r in self.registry
            if r.state == "running" and r.runtime_id not in alive
        ]
        for sandbox_id in dead:
            try:
                await self.bury(sandbox_id)
            except Exception as exc:
                log.error("burying sandbox failed", sandbox_id=sandbox_id, error=str(exc))
        return dead

    async def _run(self) -> None:
        sweeps = 0
        while True:
            await asyncio.sleep(self.interval)
            sweeps += 1
            self._current = asyncio.ensure_future(self._sweep_all(sweeps))
            with contextlib.suppress(Exception):
                await asyncio.shield(self._current)

    async def _sweep_all(self, sweeps: int) -> None:
        try:
            await self.sweep()
            if sweeps % self.liveness_every == 0:
                await self.find_dead()
        except Exception:
            log.exception("reaper sweep failed")
