"""Template builds and starts, as a user meets them through `corral up` and the official SDK.

Per runtime, from a fresh data directory: the default `base` template built from the offline
Debian image (cold, then again with every step cached), a small SDK template (`Template.build`)
cold and cached, and `Sandbox.create(<template>)` → first command output from an empty pool,
for `base` and for a template whose start command must pass its ready check first.
Run as root: `.venv/bin/python -m bench.template_bench [--runtime crun|runsc|both]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.runtime_reference import summary
from corral.runtime.rootfs import default_base_rootfs
from tests.e2e.launch import start_corral_up, stop_corral_up


def timed_cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("corral")), "template", *args],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return round(time.perf_counter() - t0, 2)


def sdk_build(name: str, marker: str) -> float:
    from e2b import Template

    template = (
        Template()
        .from_base_image()
        .run_cmd(f"echo {marker} > /tmp/marker")
        .set_envs({"BENCH": "1"})
        .set_start_cmd("python3 -m http.server 8080", "curl -sf localhost:8080 >/dev/null")
    )
    t0 = time.perf_counter()
    Template.build(template, name)
    return round(time.perf_counter() - t0, 2)


def create_to_output(template: str, runs: int) -> dict[str, float | int]:
    from e2b import Sandbox

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sbx = Sandbox.create(template)
        assert sbx.commands.run("echo hi").stdout.strip() == "hi"
        times.append((time.perf_counter() - t0) * 1000)
        sbx.kill()
    return summary(times)


def measure(runtime: str, runs: int) -> dict[str, object]:
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="corral-tpl-", dir="/var/tmp") as tmp:
        proc, exports = start_corral_up(
            runtime=runtime,
            data_dir=Path(tmp),
            base_rootfs=default_base_rootfs(),
            instance="corraltpl",
            pool="10.245.0.0/16",
            ifname_prefix="ctp",
            pool_size=0,
        )
        os.environ.update(exports)
        os.environ["CORRAL_DATA_DIR"] = tmp
        try:
            result["base_build_cold_s"] = timed_cli("build", "base")
            result["base_build_cached_s"] = timed_cli("build", "base")
            result["sdk_build_cold_s"] = sdk_build("bench-small", "one")
            result["sdk_build_cached_s"] = sdk_build("bench-small", "one")
            result["create_to_output_base_cold_pool_ms"] = create_to_output("base", runs)
            result["create_to_output_start_cmd_cold_pool_ms"] = create_to_output(
                "bench-small", runs
            )
        finally:
            stop_corral_up(proc)
            from corral.templates.buildah import unmount_under

            unmount_under(Path(tmp))
    print(f"{runtime} done", file=sys.stderr, flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runtime", choices=["crun", "runsc", "both"], default="both")
    p.add_argument("--runs", type=int, default=10)
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


if __name__ == "__main__":
    main()
