"""envd's numbers: start to first /health, idle memory, and `commands.run("true")` round trip.

envd runs once per sandbox, so its private memory multiplies with the sandbox count and its
start time adds to every cold start. Run as root: `.venv/bin/python -m bench.envd_bench`.
Prints one JSON object; README.md quotes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from corral.runtime.envd_dist import ensure_envd_dist_sync
from tests.conftest import free_port, wait_http
from tests.envd.conftest import TEST_USER, Envd, sdk_opts, start_envd, stop_envd


def _start_to_health(runs: int) -> list[float]:
    """envd as the tests run it: the venv's python, `-m corral.envd`."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        envd = start_envd()
        times.append((time.perf_counter() - t0) * 1000)
        stop_envd(envd)
    return times


def _dist_start_to_health(runs: int) -> list[float]:
    """envd as sandboxes run it: Debian's python3 on the envd distribution (`envd_dist.py`)."""
    dist = ensure_envd_dist_sync()
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [
                "/usr/bin/python3",
                "-I",
                "-S",
                str(dist / "bin" / "envd"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--default-user",
                TEST_USER,
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
            times.append((time.perf_counter() - t0) * 1000)
        finally:
            proc.terminate()
            proc.wait()
    return times


def _memory_kib(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return {
        "rss_kib": fields["Rss"],
        "pss_kib": fields["Pss"],
        "private_kib": fields["Private_Clean"] + fields["Private_Dirty"],
    }


def _round_trips(envd: Envd, runs: int) -> list[float]:
    from e2b import Sandbox

    sbx = Sandbox(**sdk_opts(envd))  # type: ignore[arg-type]
    for _ in range(10):
        sbx.commands.run("true")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sbx.commands.run("true")
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def main() -> None:
    starts = _start_to_health(10)
    dist_starts = _dist_start_to_health(10)
    envd = start_envd(token="bench")
    try:
        time.sleep(0.5)
        idle = _memory_kib(envd.proc.pid)
        trips = _round_trips(envd, 200)
        httpx.get(f"{envd.url}/health")
        after = _memory_kib(envd.proc.pid)
    finally:
        stop_envd(envd)
    host_true = []
    for _ in range(50):
        t0 = time.perf_counter()
        subprocess.run(["/bin/bash", "-l", "-c", "true"], check=True)
        host_true.append((time.perf_counter() - t0) * 1000)
    result = {
        "python": sys.version.split()[0],
        "start_to_health_ms": {"p50": _pct(starts, 0.5), "max": round(max(starts), 2)},
        "dist_start_to_health_ms": {
            "p50": _pct(dist_starts, 0.5),
            "max": round(max(dist_starts), 2),
        },
        "idle_memory": idle,
        "memory_after_200_runs": after,
        "commands_run_true_ms": {"p50": _pct(trips, 0.5), "p95": _pct(trips, 0.95)},
        "host_bash_login_true_ms": {"p50": _pct(host_true, 0.5)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
