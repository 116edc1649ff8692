"""Warm pools: creates served without the driver, background refills, pools off."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

from corral.orchestrator.models import CreateParams, utcnow
from corral.runtime.types import Resources, SandboxSpec
from tests.orchestrator.conftest import Harness, eventually


async def pool_ready(harness: Harness, ready: int) -> bool:
    assert harness.client is not None
    pools = (await harness.client.info()).pools
    return bool(pools) and pools[0].ready == ready and pools[0].starting == 0


async def test_create_is_served_from_the_pool_and_the_pool_refills(harness: Harness) -> None:
    client = await harness.start(pool_size=2)
    await eventually(lambda: pool_ready(harness, 2))
    [pool] = (await client.info()).pools
    assert (pool.template_id, pool.vcpu, pool.memory_mb, pool.target) == ("base", 2, 512, 2)
    pooled = {c.spec.sandbox_id for c in harness.driver.creates}
    assert len(pooled) == 2 and all(not c.spec.internet for c in harness.driver.creates)

    before = len(harness.driver.creates)
    started = time.monotonic()
    sandbox = await client.create("sbx-warm", "base", env_vars={"X": "1"})
    # The hot path called no driver create: the sandbox is one started before the call, and
    # whatever create ran meanwhile is a background refill (offline, as pool sandboxes are).
    runtime_id = harness.driver.runtime_id_at(sandbox.address)
    assert runtime_id in pooled
    assert all(not c.spec.internet for c in harness.driver.creates[before:])
    assert all(c.at >= started for c in harness.driver.creates[before:])
    # Pool sandboxes start offline; this one asked for the internet.
    assert harness.driver.internet_calls == [(runtime_id, True)]

    await eventually(lambda: pool_ready(harness, 2))
    assert len(harness.driver.creates) == before + 1

    offline = await client.create("sbx-offline", "base", allow_internet_access=False)
    assert not offline.allow_internet_access
    assert len(harness.driver.internet_calls) == 1


async def test_pool_hit_latency(harness: Harness) -> None:
    """Pool-hit create time inside the orchestrator (node.create) and through gRPC, each from a
    full pool with no refill running (a refill's envd start competes for the CPU)."""
    rounds = 7
    client = await harness.start(pool_size=1)
    node = harness.server.node
    inside, through_grpc = [], []
    for i in range(rounds):
        await eventually(lambda: pool_ready(harness, 1))
        params = CreateParams(
            sandbox_id=f"sbx-lat{i}",
            template_id="base",
            resources=node.default_resources,
            end_time=utcnow() + timedelta(minutes=5),
            env_vars={"A": "b"},
            envd_access_token="tok",
        )
        creates = len(harness.driver.creates)
        started = time.perf_counter()
        record = await node.create(params)
        inside.append((time.perf_counter() - started) * 1000)
        assert len(harness.driver.creates) == creates  # the refill starts after the create
        assert harness.driver.runtime_id_at(record.address) == record.runtime_id

        await eventually(lambda: pool_ready(harness, 1))
        started = time.perf_counter()
        await client.create(f"sbx-grpc{i}", "base", envd_access_token="tok")
        through_grpc.append((time.perf_counter() - started) * 1000)
    print(
        f"\npool-hit create: node.create median {statistics.median(inside):.2f} ms"
        f" (min {min(inside):.2f}, max {max(inside):.2f}); via gRPC median"
        f" {statistics.median(through_grpc):.2f} ms (max {max(through_grpc):.2f})"
    )
    assert statistics.median(inside) < 500


async def test_live_cold_start_does_not_wait_behind_refills(harness: Harness) -> None:
    release = asyncio.Event()

    async def hold_pool_creates(spec: SandboxSpec) -> None:
        if not spec.internet:  # pool sandboxes start offline
            await release.wait()

    harness.driver.gate = hold_pool_creates
    client = await harness.start(pool_size=2, pool_refill_concurrency=1)
    await eventually(lambda: len(harness.driver.creates) == 1)  # one refill holds the only slot
    sandbox = await asyncio.wait_for(client.create("sbx-live", "base"), 10)
    assert sandbox.state == "running"
    [pool] = (await client.info()).pools
    assert (pool.ready, pool.starting) == (0, 2)
    release.set()
    await eventually(lambda: pool_ready(harness, 2))


async def test_pool_size_zero(harness: Harness) -> None:
    client = await harness.start(pool_size=0)
    sandbox = await client.create("sbx-cold", "base")
    assert sandbox.state == "running"
    await asyncio.sleep(0.3)
    assert len(harness.driver.creates) == 1
    assert (await client.info()).pools == []


async def test_dead_pool_sandbox_falls_back_to_a_cold_start(harness: Harness) -> None:
    client = await harness.start(pool_size=1)
    await eventually(lambda: pool_ready(harness, 1))
    [pooled] = list(harness.driver.sandboxes)
    await harness.driver.lose(pooled)
    sandbox = await client.create("sbx-after", "base")
    assert sandbox.state == "running"
    assert harness.driver.runtime_id_at(sandbox.address) != pooled


async def test_shapes_get_their_own_pool_and_shutdown_empties_pools(harness: Harness) -> None:
    client = await harness.start(pool_size=1)
    await eventually(lambda: pool_ready(harness, 1))
    kept = await client.create("sbx-big", "base", vcpu=4, memory_mb=1024)  # cold, new shape
    await eventually(
        lambda: _pools(harness, {("base", 2): 1, ("base", 4): 1}),
    )
    kept_runtime = harness.driver.runtime_id_at(kept.address)
    await harness.stop()
    # Pool sandboxes go with the orchestrator; assigned sandboxes keep running.
    assert set(harness.driver.sandboxes) == {kept_runtime}


async def _pools(harness: Harness, expected: dict[tuple[str, int], int]) -> bool:
    assert harness.client is not None
    pools = (await harness.client.info()).pools
    return {(p.template_id, p.vcpu): p.ready for p in pools} == expected


def test_resources_are_part_of_the_pool_key() -> None:
    a = CreateParams("a", "base", Resources(vcpu=1), utcnow())
    b = CreateParams("b", "base", Resources(vcpu=1), utcnow())
    c = CreateParams("c", "base", Resources(vcpu=2), utcnow())
    assert a.pool_key == b.pool_key != c.pool_key


async def test_dropping_a_template_destroys_its_pool(harness: Harness) -> None:
    client = await harness.start(pool_size=2)
    await eventually(lambda: pool_ready(harness, 2))
    node = harness.server.node  # type: ignore[union-attr]
    await node.launcher.pool.drop("base")
    assert (await client.info()).pools == []
    assert harness.driver.sandboxes == {}
    # A create of it afterwards is a cold start, and keeps a pool again.
    await client.create("sbx-after-drop", "base")
    await eventually(lambda: pool_ready(harness, 2))
