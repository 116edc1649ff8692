"""Reference points for a create: the bare runtime running `/bin/true`, and envd's own start.

`<runtime> run` of `/bin/true` in a minimal bundle whose root is the base rootfs, read-only (no
overlay, no network plumbing, no envd): what the runtime alone costs. envd is started on the
host, outside any sandbox: once as `bench/envd_bench.py` does (the venv's python, `-m
corral.envd`, polled every 20 ms), once exactly as a sandbox runs it (the envd distribution's
launcher under /usr/bin/python3 -I -S, polled every 5 ms like the orchestrator does).
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import time
from pathlib import Path

import httpx

from bench.envd_bench import _start_to_health
from bench.orchestrator_node import INSTANCE, RUN_DIR
from corral.runtime.envd_dist import MOUNT_POINT, SANDBOX_PYTHON

RUNTIME_FLAGS = {
    "crun": [],
    # The driver's runsc flags, with gVisor's network off: no namespace to plumb for /bin/true.
    "runsc": ["--platform=systrap", "--overlay2=none", "--network=none"],
}


def summary(values: list[float]) -> dict[str, float | int]:
    """n, p50, p95, min, max, mean of milliseconds, rounded to 0.01 ms."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def _bundle(runtime: str, rootfs: Path, workdir: Path) -> Path:
    bundle = workdir / f"raw-{runtime}"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "config.json").unlink(missing_ok=True)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    config["linux"]["cgroupsPath"] = f"/{INSTANCE}/raw-{runtime}"
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def raw_true(runtime: str, rootfs: Path, workdir: Path, runs: int) -> dict[str, float | int]:
    """`<runtime> run` of /bin/true, start to exit and container removal, after 2 warm-ups."""
    bundle = _bundle(runtime, rootfs, workdir)
    state = RUN_DIR / f"raw-{runtime}"
    state.mkdir(parents=True, exist_ok=True)
    argv = [runtime, "--root", str(state), *RUNTIME_FLAGS[runtime]]
    argv += ["run", "--bundle", str(bundle), f"bench-raw-{runtime}"]
    times = []
    for i in range(runs + 2):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
        if i >= 2:
            times.append((time.perf_counter() - started) * 1000)
    return summary(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dist_envd_start(envd_dir: Path) -> float:
    port = _free_port()
    launcher = envd_dir / (MOUNT_POINT / "bin" / "envd").relative_to(MOUNT_POINT)
    argv = [SANDBOX_PYTHON, "-I", "-S", str(launcher), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/health"
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.perf_counter() - started < 20:
                try:
                    if client.get(url).is_success:
                        return (time.perf_counter() - started) * 1000
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None:
                    raise RuntimeError(f"envd exited with {proc.returncode}")
                time.sleep(0.005)
        raise TimeoutError(url)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def envd_on_host(envd_dir: Path, runs: int) -> dict[str, object]:
    return {
        "dist_launcher_start_to_health_ms": summary(
            [_dist_envd_start(envd_dir) for _ in range(runs)]
        ),
        "envd_bench_start_to_health_ms": summary(_start_to_health(runs)),
    }
