"""Time to interactive as a user measures it: `Sandbox.create()` to the first command's output.

Starts `corral up` (a real process, per runtime, with its own names and ports) and drives it
with the official e2b SDK over loopback: TTI with a warm pool and with none, and the round trip
of `commands.run("true")` through the proxy, beside the raw runtime's `run /bin/true` measured
in the same run. Run as root: `.venv/bin/python -m bench.sdk_tti [--runtime crun|runsc|both]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.runner import run_per_runtime, timed_calls
from bench.runtime_reference import raw_true, summary
from corral.runtime.rootfs import default_base_rootfs
from tests.e2e.launch import start_corral_up, stop_corral_up


def stop_platform(proc: subprocess.Popen[str]) -> None:
    from e2b import Sandbox

    for s in Sandbox.list().next_items():
        Sandbox.kill(s.sandbox_id)
    stop_corral_up(proc)


def tti(runs: int, refill_wait_s: float) -> dict[str, float | int]:
    """`refill_wait_s` between creates lets a warm pool refill (0: the pool is off)."""
    from e2b import Sandbox

    times = []
    for _ in range(runs):
        time.sleep(refill_wait_s)
        t0 = time.perf_counter()
        sbx = Sandbox.create()
        out = sbx.commands.run("echo hi").stdout
        times.append((time.perf_counter() - t0) * 1000)
        assert out.strip() == "hi"
        sbx.kill()
    return summary(times)


def round_trip(runs: int) -> dict[str, float | int]:
    from e2b import Sandbox

    sbx = Sandbox.create()
    try:
        times = timed_calls(lambda: sbx.commands.run("true"), runs)
    finally:
        sbx.kill()
    return summary(times)


def measure(runtime: str, runs: int) -> dict[str, object]:
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="corral-tti-") as tmp:
        result["raw_run_true_ms"] = raw_true(runtime, default_base_rootfs(), Path(tmp), 20)
    for pool in (2, 0):
        with tempfile.TemporaryDirectory(prefix="corral-tti-", dir="/var/tmp") as tmp:
            proc, exports = start_corral_up(
                runtime=runtime,
                data_dir=Path(tmp),
                base_rootfs=default_base_rootfs(),
                instance="corraltti",
                pool="10.248.0.0/16",
                ifname_prefix="ctt",
                pool_size=pool,
            )
            os.environ.update(exports)
            try:
                label = "pool_hit" if pool else "pool_empty"
                refill = (1.0 if runtime == "crun" else 2.0) if pool else 0.0
                result[f"tti_{label}_ms"] = tti(runs, refill)
                if pool:
                    result["commands_run_true_ms"] = round_trip(200)
            finally:
                stop_platform(proc)
            print(f"{runtime} pool={pool} done", file=sys.stderr, flush=True)
    return result


def main() -> None:
    run_per_runtime(__doc__, measure, 30)


if __name__ == "__main__":
    main()
