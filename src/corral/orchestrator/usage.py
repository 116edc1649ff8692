"""A sandbox's resource use now (E2B's metrics): memory and disk as read, CPU as a rate.

CPU is averaged since the sandbox's previous sample, so that a client polling every few
seconds sees its average over that time; without a recent sample, over a short fresh one.
"""

from __future__ import annotations

import asyncio
import time

from corral.orchestrator.models import SandboxRecord, utcnow
from corral.orchestrator.wire import SandboxMetrics
from corral.runtime.types import Driver

CPU_SAMPLE_SECONDS = 0.1
"""A first metrics call measures CPU over this long."""
CPU_SAMPLE_MAX_AGE = 60.0
"""Older samples are not used: a long average says little about now."""


class UsageMeter:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self._cpu_samples: dict[str, tuple[float, int]] = {}

    def forget(self, sandbox_id: str) -> None:
        """Its CPU clock restarts (paused, killed): an old sample would average over a gap."""
        self._cpu_samples.pop(sandbox_id, None)

    async def measure(self, record: SandboxRecord) -> SandboxMetrics:
        stats = await self.driver.stats(record.runtime_id)
        now = time.monotonic()
        previous = self._cpu_samples.get(record.sandbox_id)
        if previous is None or now - previous[0] > CPU_SAMPLE_MAX_AGE:
            await asyncio.sleep(CPU_SAMPLE_SECONDS)
            previous = (now, stats.cpu_usage_ns)
            stats = await self.driver.stats(record.runtime_id)
            now = time.monotonic()
        self._cpu_samples[record.sandbox_id] = (now, stats.cpu_usage_ns)
        elapsed_ns = max(now - previous[0], 1e-6) * 1e9
        vcpu = max(record.resources.vcpu, 1)
        used = max(stats.cpu_usage_ns - previous[1], 0) / (elapsed_ns * vcpu) * 100
        return SandboxMetrics(
            timestamp=utcnow(),
            cpu_count=vcpu,
            cpu_used_pct=round(min(used, 100.0), 2),
            mem_used=stats.memory_bytes,
            mem_total=stats.memory_limit_bytes,
            disk_used=stats.disk_used_bytes,
            disk_total=stats.disk_limit_bytes,
        )
