"""The command line shared by the per-runtime benchmarks: `--runtime crun|runsc|both`,
`--runs N`, `--out FILE`; the results as JSON on stdout (and in FILE)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Measure = Callable[[str, int], dict[str, object]]


def run_per_runtime(description: str | None, measure: Measure, runs: int) -> None:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--runtime", choices=["crun", "runsc", "both"], default="both")
    p.add_argument("--runs", type=int, default=runs)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    runtimes = ["crun", "runsc"] if args.runtime == "both" else [args.runtime]
    result: dict[str, object] = {"date": time.strftime("%Y-%m-%d %H:%M"), "runs": args.runs}
    for runtime in runtimes:
        result[runtime] = measure(runtime, args.runs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


@contextmanager
def platform(
    runtime: str, instance: str, pool: str, ifname_prefix: str, pool_size: int
) -> Iterator[Path]:
    """`corral up` on a fresh data directory, its exports (and CORRAL_DATA_DIR) in this
    process's environment for the SDK and the CLI; stopped and unmounted afterwards, and the
    environment as it was (a stale CORRAL_DATA_DIR would send the next platform's base rootfs
    into the removed directory, built there afresh)."""
    from corral.runtime.rootfs import default_base_rootfs
    from corral.templates.buildah import unmount_under
    from tests.e2e.launch import start_corral_up, stop_corral_up

    saved_env = os.environ.copy()
    with tempfile.TemporaryDirectory(prefix=f"{instance}-", dir="/var/tmp") as tmp:
        proc, exports = start_corral_up(
            runtime=runtime,
            data_dir=Path(tmp),
            base_rootfs=default_base_rootfs(),
            instance=instance,
            pool=pool,
            ifname_prefix=ifname_prefix,
            pool_size=pool_size,
        )
        os.environ.update(exports)
        os.environ["CORRAL_DATA_DIR"] = tmp
        try:
            yield Path(tmp)
        finally:
            stop_corral_up(proc)
            unmount_under(Path(tmp))
            os.environ.clear()
            os.environ.update(saved_env)
    print(f"{runtime} done", file=sys.stderr, flush=True)


def corral_cli(*args: str) -> float:
    """Run `corral …` (seconds it took); it fails the benchmark if it fails."""
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("corral")), *args],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return round(time.perf_counter() - started, 2)


def timed_calls(call: Callable[[], object], runs: int, warmup: int = 10) -> list[float]:
    """Milliseconds of each of `runs` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times
