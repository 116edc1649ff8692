"""Many sandboxes without many processes: records an orchestrator re-adopts at start.

A node that starts finds its sandbox records on disk and keeps those its driver still runs
(`Node._recover`). `park` writes the records and gives the fake driver a runtime sandbox for
each, all sharing one idle process, so an orchestrator can know hundreds or thousands of
sandboxes for listing tests and benchmarks without starting an envd for each. Nothing may
talk to their envd: there is none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from corral.orchestrator.models import SandboxRecord
from corral.orchestrator.registry import Registry
from corral.runtime.types import Resources, RuntimeSandbox, SandboxNetwork, SandboxState
from tests.orchestrator.fake_driver import FakeDriver, FakeSandbox


def parked_record(
    sandbox_id: str,
    start_time: datetime,
    *,
    team_id: str = "",
    metadata: Mapping[str, str] | None = None,
    state: SandboxState = "running",
    address: str = "127.0.0.2",
) -> SandboxRecord:
    return SandboxRecord(
        sandbox_id=sandbox_id,
        runtime_id=sandbox_id,
        template_id="base",
        resources=Resources(vcpu=2, memory_mb=512, disk_mb=1024),
        address=address,
        start_time=start_time,
        end_time=start_time + timedelta(days=1),
        state=state,
        team_id=team_id,
        metadata=dict(metadata or {}),
        envd_access_token=f"token-{sandbox_id}",
    )


async def park(
    driver: FakeDriver, state_dir: Path, records: Iterable[SandboxRecord]
) -> asyncio.subprocess.Process:
    """Write `records` where an orchestrator with `state_dir` finds them, and make `driver` run
    them; returns the one idle process they share (the driver's `close` ends it)."""
    idle = await asyncio.create_subprocess_exec("sleep", "infinity")
    registry = Registry(state_dir)
    registry.load()
    for record in records:
        await registry.put(record)
        network = SandboxNetwork(
            sandbox_id=record.runtime_id,
            netns=f"fake-{record.runtime_id}",
            host_ifname="lo",
            address=IPv4Address(record.address),
            gateway=IPv4Address("127.0.0.1"),
            internet=record.allow_internet_access,
        )
        runtime = RuntimeSandbox(
            record.runtime_id, record.template_id, driver.name, network, record.resources,
            state=record.state,
        )  # fmt: skip
        driver.sandboxes[record.runtime_id] = FakeSandbox(runtime, idle, internet=True)
    return idle
