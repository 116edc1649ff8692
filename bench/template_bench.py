"""Template builds and starts, as a user meets them through `corral up` and the official SDK.

Per runtime, from a fresh data directory: the default `base` template built from the offline
Debian image (cold, then again with every step cached), a small SDK template (`Template.build`)
cold and cached, and `Sandbox.create(<template>)` → first command output from an empty pool,
for `base` and for a template whose start command must pass its ready check first.
Run as root: `.venv/bin/python -m bench.template_bench [--runtime crun|runsc|both]`.
"""

from __future__ import annotations

import time

from bench.runner import corral_cli, platform, run_per_runtime
from bench.runtime_reference import summary


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
    with platform(runtime, "corraltpl", "10.245.0.0/16", "ctp", pool_size=0):
        result["base_build_cold_s"] = corral_cli("template", "build", "base")
        result["base_build_cached_s"] = corral_cli("template", "build", "base")
        result["sdk_build_cold_s"] = sdk_build("bench-small", "one")
        result["sdk_build_cached_s"] = sdk_build("bench-small", "one")
        result["create_to_output_base_cold_pool_ms"] = create_to_output("base", runs)
        result["create_to_output_start_cmd_cold_pool_ms"] = create_to_output("bench-small", runs)
    return result


def main() -> None:
    run_per_runtime(__doc__, measure, 10)


if __name__ == "__main__":
    main()
