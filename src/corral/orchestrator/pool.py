"""Warm pools: sandboxes already started and answering, waiting for a create to claim them.

A pool sandbox has no sandbox id, no env vars, no token and no internet yet: a create takes
one, personalises it through envd's `/init` and opens its network if asked. Taking is
synchronous and never waits; refills run in the background, at most `concurrency` at once, so a
live create that misses the pool cold-starts right away instead of queueing behind them.

Pool sandboxes are destroyed on shutdown; after a crash the ones left behind have no record, so
the next start removes them with the driver's orphan cleanup.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from corral import logs
from corral.orchestrator.models import PoolKey
from corral.runtime.types import RuntimeSandbox

log = logs.get("orchestrator.pool")

Start = Callable[[PoolKey], Awaitable[RuntimeSandbox]]
"""Start a sandbox for the pool and return once envd answers; tears down what it made on error."""
Destroy = Callable[[str], Awaitable[None]]

RETRY_MIN, RETRY_MAX = 1.0, 60.0
"""Backoff between failed refills of one pool, so a broken template does not spin the host."""


@dataclass(frozen=True)
class PoolStatus:
    key: PoolKey
    ready: int
    starting: int
    target: int


class WarmPool:
    def __init__(
        self, *, size: int, concurrency: int, max_shapes: int, start: Start, destroy: Destroy
    ) -> None:
        self.size = size
        self.max_shapes = max_shapes
        self._start = start
        self._destroy = destroy
        self._slots = asyncio.Semaphore(concurrency)
        self._ready: dict[PoolKey, deque[RuntimeSandbox]] = {}
        self._starting: dict[PoolKey, int] = {}
        self._failures: dict[PoolKey, int] = {}
        self._retry_at: dict[PoolKey, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def ensure(self, key: PoolKey) -> None:
        """Keep a pool for `key` (when pools are on and the shape cap allows), and fill it."""
        if self._closed or self.size == 0:
            return
        if key not in self._ready:
            if len(self._ready) >= self.max_shapes:
                return
            self._ready[key] = deque()
            self._starting[key] = 0
        self._refill(key)

    def take(self, key: PoolKey) -> RuntimeSandbox | None:
        """A ready sandbox for `key`, or None. The caller calls `ensure` once its create is
        done, so that the refill's driver work does not compete with the create it serves."""
        ready = self._ready.get(key)
        return ready.popleft() if ready else None

    async def drop(self, template_key: str) -> None:
        """Stop keeping pools of a template image (deleted): destroy their ready sandboxes;
        refills in flight destroy what they make."""
        keys = [k for k in self._ready if k.template_id == template_key]
        sandboxes = [s for k in keys for s in self._ready.pop(k)]
        for key in keys:
            self._failures.pop(key, None)
            self._retry_at.pop(key, None)
        for sandbox in sandboxes:
            await self._destroy(sandbox.sandbox_id)

    def status(self) -> list[PoolStatus]:
        return [
            PoolStatus(key, len(ready), self._starting.get(key, 0), self.size)
            for key, ready in self._ready.items()
        ]

    def _refill(self, key: PoolKey) -> None:
        if self._closed or key not in self._ready:
            return
        if time.monotonic() < self._retry_at.get(key, 0.0):
            return
        missing = self.size - len(self._ready[key]) - self._starting[key]
        for _ in range(max(missing, 0)):
            self._starting[key] += 1
            task = asyncio.create_task(self._fill_one(key), name=f"pool-refill-{key.template_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fill_one(self, key: PoolKey) -> None:
        sandbox: RuntimeSandbox | None = None
        try:
            async with self._slots:
                if self._closed:
                    return
                sandbox = await self._start(key)
        except Exception as exc:
            self._starting[key] -= 1
            self._backoff(key, exc)
            return
        except BaseException:
            self._starting[key] -= 1
            raise
        self._starting[key] -= 1
        if self._closed or key not in self._ready:
            await self._destroy(sandbox.sandbox_id)
            return
        self._failures.pop(key, None)
        self._ready[key].append(sandbox)
        log.debug("pool sandbox ready", template=key.template_id, runtime_id=sandbox.sandbox_id)

    def _backoff(self, key: PoolKey, exc: Exception) -> None:
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(RETRY_MIN * 2 ** (failures - 1), RETRY_MAX)
        self._retry_at[key] = time.monotonic() + delay
        log.warning("pool refill failed", template=key.template_id, error=str(exc), retry_in=delay)
        asyncio.get_running_loop().call_later(delay, self._retry, key)

    def _retry(self, key: PoolKey) -> None:
        self._retry_at.pop(key, None)
        self._refill(key)

    async def close(self, grace: float) -> None:
        """Stop refilling; let refills in flight finish for up to `grace` seconds (they destroy
        what they made), then destroy every ready sandbox."""
        self._closed = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        sandboxes = [sandbox for ready in self._ready.values() for sandbox in ready]
        self._ready.clear()
        results = await asyncio.gather(
            *(self._destroy(sandbox.sandbox_id) for sandbox in sandboxes), return_exceptions=True
        )
        for sandbox, result in zip(sandboxes, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "destroying pool sandbox failed",
                    runtime_id=sandbox.sandbox_id,
                    error=str(result),
                )
