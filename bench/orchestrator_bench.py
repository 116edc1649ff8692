"""The orchestrator on real runtimes: create latency (pool hit and miss), idle memory, density.

Run as root: `.venv/bin/python -m bench.orchestrator_bench [--runtime crun|runsc|both]`.
Per runtime, a real node (OCI driver, gRPC server on loopback, bench-only names, data under
/var/tmp/corral-bench) measures, in order:

1. pool hit: pool_size=1, the pool full and no refill running before each create; `node.create`
   in-process, then `client.create` over gRPC (and a few with internet on: one nft call more);
2. pool miss: pool_size=0, gRPC create with its steps timed inside the driver and node;
3. idle memory of 10 sandboxes (PSS / private of their cgroup's processes, cgroup usage);
4. density: idle sandboxes (256 MB) created one by one until a create fails, slows down, the
   cap is reached or MemAvailable gets low; then all deleted and the host checked for leftovers;
5. the gRPC pool hit again, to tell noise from other jobs on the machine apart from the numbers;

plus `<runtime> run /bin/true` and envd's start on the host for reference. Prints one JSON object
on stdout, progress and a short summary on stderr. Sandboxes get no internet (except the few
pool hits that time the nft call) and are only ever reached at their own addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.host_cleanup import leftovers, purge
from bench.memory import CpuSample, cpu_window, own_pids
from bench.orchestrator_node import DATA_DIR, INSTANCE, BenchNode, TimedDriver, timed_root_disks
from bench.orchestrator_phases import (
    STARTED,
    Result,
    density,
    idle_memory,
    pool_hit,
    pool_miss,
    progress,
)
from bench.orchestrator_summary import summarize
from bench.runtime_reference import envd_on_host, raw_true
from corral import logs
from corral.runtime.envd_dist import ensure_envd_dist
from corral.runtime.rootfs import default_base_rootfs, ensure_base_rootfs


def other_jobs() -> list[str]:
    """Test runs and benchmarks of others on this machine (they compete for the 2 cores)."""
    found, ours = [], own_pids()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(pid) not in ours and any(k in cmd for k in ("pytest", ".ci/run", "bench.")):
            found.append(cmd[:90].strip())
    return sorted(set(found))


async def run_runtime(
    runtime: str, args: argparse.Namespace, rootfs: Path, envd: Path, result: Result
) -> None:
    """Every phase for one runtime, each one's numbers put into `result` as it ends."""
    progress(f"{runtime}: raw `{runtime} run /bin/true`")
    result["raw_run_true_ms"] = await asyncio.to_thread(raw_true, runtime, rootfs, DATA_DIR, 20)
    driver = TimedDriver(runtime, envd)
    await driver.networks.setup()
    bench = BenchNode(driver, rootfs)
    cap = args.cap_crun if runtime == "crun" else args.cap_runsc
    phases: list[tuple[str, Callable[[], Awaitable[Result]]]] = [
        ("pool_hit", lambda: pool_hit(bench, args.creates, args.internet_creates, True)),
        ("pool_miss", lambda: pool_miss(bench, args.creates)),
        ("idle_memory", lambda: idle_memory(bench, args.idle)),
        ("density", lambda: density(bench, cap, args.consecutive, args.min_available_gib)),
        ("pool_hit_repeat", lambda: pool_hit(bench, args.repeat, 0, False)),
    ]
    with timed_root_disks(driver.timings):
        for name, run in phases:
            if name not in args.phases.split(","):
                continue
            progress(f"{runtime}: {name}")
            jobs, cpu, started = other_jobs(), CpuSample.take(INSTANCE), time.monotonic()
            try:
                phase = await run()
            except Exception as exc:
                traceback.print_exc()
                phase = {"error": f"{type(exc).__name__}: {exc}"}
            wall = time.monotonic() - started
            window = cpu_window(cpu, CpuSample.take(INSTANCE), wall, INSTANCE)
            phase["host"] = {**window, "other_jobs": sorted(set(jobs) | set(other_jobs()))}
            result[name] = phase
    await driver.cleanup_orphans(set())


def host_info() -> dict[str, object]:
    def version(argv: list[str]) -> str:
        out = subprocess.run(argv, capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "?"

    def git(*argv: str) -> list[str]:
        out = subprocess.run(["git", *argv], capture_output=True, text=True).stdout
        return out.splitlines()

    return {
        "git_head": (git("rev-parse", "--short", "HEAD") or ["?"])[0],
        "git_dirty": [line[3:] for line in git("status", "--porcelain") if line[3:]][:30],
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "mem_total_mib": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
        "crun": version(["crun", "--version"]),
        "runsc": version(["runsc", "--version"]),
    }


async def amain(args: argparse.Namespace) -> Result:
    task = asyncio.current_task()
    assert task is not None
    interrupted: list[int] = []

    def on_signal() -> None:
        if not interrupted:
            progress("interrupted: cleaning up (this takes a few seconds)")
            task.cancel()
        interrupted.append(1)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    runtimes = ["crun", "runsc"] if args.runtime == "both" else [args.runtime]
    result: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": host_info(),
        "args": vars(args),
    }
    progress("preparing the base rootfs and the envd distribution")
    rootfs = await ensure_base_rootfs(default_base_rootfs())
    envd = await ensure_envd_dist()
    result["envd_dist"] = str(envd)  # built from this work tree, whatever its state
    clean = False
    try:
        await purge(runtimes, envd)
        DATA_DIR.mkdir(parents=True)
        progress("envd start on the host")
        result["envd_on_host"] = await asyncio.to_thread(envd_on_host, envd, 10)
        per_runtime: dict[str, Result] = {}
        result["runtimes"] = per_runtime
        for runtime in runtimes:
            per_runtime[runtime] = {}
            await run_runtime(runtime, args, rootfs, envd, per_runtime[runtime])
        clean = True
    except asyncio.CancelledError:
        result["interrupted"] = True
    finally:
        if not clean:  # refills or abandoned creates may still be running: let them finish
            others = [t for t in asyncio.all_tasks() if t is not task]
            if others:
                await asyncio.wait(others, timeout=15)
        progress("removing everything the benchmark made")
        await purge(runtimes, envd)
        result["leftovers_after_purge"] = leftovers()
        result["total_s"] = round(time.monotonic() - STARTED, 1)
    return result


def parse_args() -> argparse.Namespace:
    all_phases = "pool_hit,pool_miss,idle_memory,density,pool_hit_repeat"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runtime", choices=["crun", "runsc", "both"], default="both")
    p.add_argument("--creates", type=int, default=50, help="timed creates per pool series")
    p.add_argument("--internet-creates", type=int, default=20)
    p.add_argument("--repeat", type=int, default=20, help="gRPC pool hits measured again")
    p.add_argument("--idle", type=int, default=10, help="sandboxes for the idle memory")
    p.add_argument("--cap-crun", type=int, default=150)
    p.add_argument("--cap-runsc", type=int, default=60)
    p.add_argument("--consecutive", type=int, default=3, help="slow creates that stop density")
    p.add_argument("--min-available-gib", type=float, default=4.0)
    p.add_argument("--phases", default=all_phases, help=f"comma-separated subset of {all_phases}")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    logs.configure("WARNING", json=True)
    result = asyncio.run(amain(args))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(summarize(result), file=sys.stderr)


if __name__ == "__main__":
    main()
