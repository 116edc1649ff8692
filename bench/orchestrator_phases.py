"""The measured phases of `orchestrator_bench`, each on a node started for it and stopped after.

Every timed create gets a quiet host first: the pool full with no refill running (pool hits), or
the previous sandbox deleted (misses), then `SETTLE` seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from bench.host_cleanup import leftovers
from bench.memory import instance_cpu_s, mem_available_kib, sandbox_memory
from bench.orchestrator_node import INSTANCE, BenchNode
from bench.runtime_reference import summary
from corral.orchestrator.models import CreateParams, utcnow

Result = dict[str, Any]
SETTLE = 0.05
"""Seconds of quiet before each timed create (after the pool refilled or the last delete)."""
TOKEN = "bench-token-0123456789"
IDLE = "alive_list"
"""The reaper's liveness look: runs on its own clock, not part of any create or delete."""
STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


async def pool_hit(bench: BenchNode, creates: int, internet: int, in_process: bool) -> Result:
    await bench.start(pool_size=1)
    try:
        node, driver = bench.node, bench.driver
        mark = driver.timings.mark()
        times: dict[str, list[float]] = {"node": [], "grpc": [], "grpc_internet": []}
        not_pooled = 0

        async def one(kind: str, i: int) -> None:
            nonlocal not_pooled
            await bench.wait_pool_full()
            await asyncio.sleep(SETTLE)
            started = time.perf_counter()
            if kind == "node":
                params = CreateParams(
                    sandbox_id=f"hit-node-{i}",
                    template_id="base",
                    resources=node.default_resources,
                    end_time=utcnow() + timedelta(minutes=10),
                    env_vars={"A": "b"},
                    envd_access_token=TOKEN,
                    allow_internet_access=False,
                )
                sandbox_id = (await node.create(params)).sandbox_id
            else:
                sandbox = await bench.client.create(
                    f"hit-{kind}-{i}",
                    "base",
                    env_vars={"A": "b"},
                    envd_access_token=TOKEN,
                    allow_internet_access=kind == "grpc_internet",
                )
                sandbox_id = sandbox.sandbox_id
            times[kind].append((time.perf_counter() - started) * 1000)
            if driver.created_at.get(node.get(sandbox_id).runtime_id, started) >= started:
                not_pooled += 1  # its sandbox was started during the call: a cold start
            await bench.client.delete(sandbox_id)

        for i in range(creates):
            if in_process:
                await one("node", i)
            await one("grpc", i)
        for i in range(internet):
            await one("grpc_internet", i)
        parts = driver.timings.since(mark)
        return {
            "node_create_ms": summary(times["node"]),
            "grpc_create_ms": summary(times["grpc"]),
            "grpc_create_internet_ms": summary(times["grpc_internet"]),
            "not_from_pool": not_pooled,
            "init_ms": summary(parts.get("envd_init", [])),
            "registry_put_ms": summary(parts.get("registry_put", [])),
            "refill_driver_create_ms": summary(parts.get("driver_create", [])),
            "refill_envd_wait_ms": summary(parts.get("envd_wait", [])),
        }
    finally:
        await bench.stop()


async def pool_miss(bench: BenchNode, creates: int, warmup: int = 2) -> Result:
    await bench.start(pool_size=0)
    try:
        driver = bench.driver
        totals: list[float] = []
        deletes: list[float] = []
        steps: dict[str, list[float]] = {}
        delete_steps: dict[str, list[float]] = {}
        for i in range(warmup + creates):
            await asyncio.sleep(SETTLE)
            mark = driver.timings.mark()
            started = time.perf_counter()
            sandbox = await bench.client.create(
                f"miss-{i}", "base", env_vars={"A": "b"}, envd_access_token=TOKEN,
                allow_internet_access=False,
            )  # fmt: skip
            total = (time.perf_counter() - started) * 1000
            parts = {k: v[0] for k, v in driver.timings.since(mark).items() if v and k != IDLE}
            mark = driver.timings.mark()
            started = time.perf_counter()
            await bench.client.delete(sandbox.sandbox_id)
            if i < warmup:
                continue
            deletes.append((time.perf_counter() - started) * 1000)
            for key, values in driver.timings.since(mark).items():
                if values and key not in parts and key != IDLE:
                    delete_steps.setdefault(key, []).append(values[0])
            totals.append(total)
            parts["driver_setup"] = parts["driver_create"] - parts["runtime_start"]
            parts["grpc_and_rest"] = total - sum(
                parts[k] for k in ("driver_create", "envd_wait", "envd_init", "registry_put")
            )
            for key, value in parts.items():
                steps.setdefault(key, []).append(value)
        return {
            "grpc_create_ms": summary(totals),
            "steps_ms": {key: summary(values) for key, values in sorted(steps.items())},
            "grpc_delete_ms": summary(deletes),
            "delete_steps_ms": {
                key: summary(values) for key, values in sorted(delete_steps.items())
            },
        }
    finally:
        await bench.stop()


async def idle_memory(bench: BenchNode, count: int, wait: float = 5.0) -> Result:
    await bench.start(pool_size=0)
    try:
        before = mem_available_kib()
        ids = []
        for i in range(count):
            sandbox = await bench.client.create(f"idle-{i}", "base", allow_internet_access=False)
            ids.append(sandbox.sandbox_id)
        cpu = instance_cpu_s(INSTANCE)
        await asyncio.sleep(wait)
        idle_cores = (instance_cpu_s(INSTANCE) - cpu) / wait
        drop = before - mem_available_kib()
        per = [sandbox_memory(INSTANCE, bench.node.get(i).runtime_id) for i in ids]
        keys = ("pss_kib", "private_kib", "rss_kib", "cgroup_usage_kib", "cgroup_rss_kib")
        return {
            "sandboxes": count,
            "mean": {k: round(statistics.fmean(float(p[k]) for p in per)) for k in keys},  # type: ignore[arg-type]
            "median": {k: round(statistics.median(float(p[k]) for p in per)) for k in keys},  # type: ignore[arg-type]
            "processes": per[0]["processes"],
            "mem_available_drop_per_sandbox_kib": round(drop / count),
            "idle_cpu_cores_per_sandbox": round(idle_cores / count, 4),
            "each": per,
        }
    finally:
        await bench.stop()


async def density(bench: BenchNode, cap: int, consecutive: int, min_available_gib: float) -> Result:
    await bench.start(pool_size=0)
    times: list[float] = []
    curve = []
    reason = f"cap of {cap} reached"
    first_slow = None
    slow_run = 0
    start_avail = mem_available_kib()
    mark = bench.driver.timings.mark()
    try:
        while len(times) < cap:
            if mem_available_kib() < min_available_gib * 2**20:
                reason = f"MemAvailable under {min_available_gib} GiB"
                break
            started = time.perf_counter()
            try:
                await bench.client.create(
                    f"dense-{len(times)}", "base", memory_mb=256, allow_internet_access=False
                )
            except Exception as exc:
                reason = f"create {len(times) + 1} failed: {type(exc).__name__}: {exc}"
                break
            times.append((time.perf_counter() - started) * 1000)
            baseline = statistics.median(times[:10]) if len(times) >= 10 else None
            slow = baseline is not None and times[-1] > 2 * baseline
            slow_run = slow_run + 1 if slow else 0
            first_slow = first_slow or (len(times) if slow else None)
            if len(times) % 10 == 0:
                avail = mem_available_kib()
                curve.append({
                    "count": len(times),
                    "p50_last10_ms": round(statistics.median(times[-10:]), 1),
                    "max_last10_ms": round(max(times[-10:]), 1),
                    "mem_available_mib": avail // 1024,
                })  # fmt: skip
                progress(f"  density {len(times)}: {curve[-1]}")
            if slow_run >= consecutive:
                reason = f"{consecutive} creates in a row over 2x the median of the first 10"
                break
        count = len(times)
        cpu = instance_cpu_s(INSTANCE)
        await asyncio.sleep(3.0)
        idle_cores = (instance_cpu_s(INSTANCE) - cpu) / 3.0
        drop = start_avail - mem_available_kib()
        deleted, delete_s = await bench.delete_all(concurrency=4)
    finally:
        await bench.stop()
    return {
        "count": count,
        "stopped_because": reason,
        "first_single_create_over_2x_baseline": first_slow,
        "baseline_ms": round(statistics.median(times[:10]), 1) if times else None,
        "create_ms": summary(times),
        "curve": curve,
        "mem_available_drop_per_sandbox_kib": round(drop / count) if count else None,
        "idle_cpu_cores_all": round(idle_cores, 3),
        "liveness_list_ms": summary(bench.driver.timings.since(mark).get(IDLE, [])),
        "delete_all": {"count": deleted, "seconds": round(delete_s, 2), "concurrency": 4},
        "leftovers_after_delete": leftovers(),
    }
