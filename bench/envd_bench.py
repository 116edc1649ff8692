"""envd's numbers: start to first /health, memory, and `commands.run("true")` round trip.

envd runs once per sandbox, so its private memory multiplies with the sandbox count and its
start time adds to every cold start. Run as root: `.venv/bin/python -m bench.envd_bench`.
Prints one JSON object; README.md quotes it.

Memory is measured on envd as sandboxes run it (Debian's python3 on the envd distribution),
at three points: idle after start (a warm-pool sandbox: it gets nothing but `/health`), idle
after `/init` (a created sandbox; envd loads its RPC services then) and after 200 commands.
`private_dirty_kib` is what each sandbox adds: the clean private pages are the distribution's
files, shared by every sandbox that maps them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from corral import logs
from corral.runtime.envd_dist import ensure_envd_dist_sync
from tests.conftest import free_port
from tests.envd.conftest import TEST_USER, Envd, ensure_test_user, sdk_opts, start_envd, stop_envd


def _start_to_health(runs: int) -> list[float]:
    """envd as the tests run it: the venv's python, `-m corral.envd`."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        envd = start_envd()
        times.append((time.perf_counter() - t0) * 1000)
        stop_envd(envd)
    return times


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: envd\r\nConnection: close\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.1 204")
    except OSError:
        return False


def _start_dist(dist: Path, token: str | None = None) -> tuple[Envd, float]:
    """envd as sandboxes run it (`envd_dist.py`) and the ms until its first /health answer,
    polled every millisecond."""
    port = free_port()
    argv = [
        "/usr/bin/python3", "-I", "-S", str(dist / "bin" / "envd"),
        "--host", "127.0.0.1", "--port", str(port), "--default-user", TEST_USER,
    ]  # fmt: skip
    if token:
        argv += ["--access-token", token]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    while not _healthy(port):
        if proc.poll() is not None:
            raise RuntimeError(f"envd exited with {proc.returncode}")
        time.sleep(0.001)
    elapsed = (time.perf_counter() - t0) * 1000
    return Envd(url=f"http://127.0.0.1:{port}", port=port, token=token, proc=proc), elapsed


def _memory_kib(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return {
        "rss_kib": fields["Rss"],
        "pss_kib": fields["Pss"],
        "private_kib": fields["Private_Clean"] + fields["Private_Dirty"],
        "private_dirty_kib": fields["Private_Dirty"],
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
    logs.configure()  # to stderr: stdout carries the JSON result only
    ensure_test_user()
    dist = ensure_envd_dist_sync()
    # Freshly written files count as dirty in smaps until written back: flush them first.
    os.sync()
    starts = _start_to_health(10)
    dist_starts = []
    for _ in range(10):
        envd, elapsed = _start_dist(dist)
        dist_starts.append(elapsed)
        stop_envd(envd)
    envd, _ = _start_dist(dist, token="bench")
    try:
        time.sleep(0.5)
        idle = _memory_kib(envd.proc.pid)
        headers = {"x-access-token": "bench"}
        httpx.post(f"{envd.url}/init", json={}, headers=headers).raise_for_status()
        time.sleep(0.5)
        after_init = _memory_kib(envd.proc.pid)
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
        "idle_after_init_memory": after_init,
        "memory_after_200_runs": after,
        "commands_run_true_ms": {"p50": _pct(trips, 0.5), "p95": _pct(trips, 0.95)},
        "host_bash_login_true_ms": {"p50": _pct(host_true, 0.5)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
