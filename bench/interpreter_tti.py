"""The code interpreter as a user meets it through `corral up`: `Sandbox.create()` of
`code-interpreter-v1` → the first `run_code("1+1")` result, with a warm pool and with none
(a gVisor snapshot restore, or a cold start and kernel start under crun), and the `run_code`
round trip of a trivial statement through the proxy.
Run as root: `.venv/bin/python -m bench.interpreter_tti [--runtime crun|runsc|both]`.
"""

from __future__ import annotations

import time

from bench.runner import corral_cli, platform, run_per_runtime, timed_calls
from bench.runtime_reference import summary

TEMPLATE = "code-interpreter-v1"


def tti(runs: int, refill_wait_s: float) -> dict[str, float | int]:
    from e2b_code_interpreter import Sandbox

    times = []
    for _ in range(runs):
        time.sleep(refill_wait_s)
        t0 = time.perf_counter()
        sbx = Sandbox.create(TEMPLATE)
        text = sbx.run_code("1+1", timeout=60).text
        times.append((time.perf_counter() - t0) * 1000)
        assert text == "2", text
        sbx.kill()
    return summary(times)


def round_trip(runs: int) -> dict[str, float | int]:
    from e2b_code_interpreter import Sandbox

    sbx = Sandbox.create(TEMPLATE)
    try:
        times = timed_calls(lambda: sbx.run_code("x = 1"), runs)
    finally:
        sbx.kill()
    return summary(times)


def measure(runtime: str, runs: int) -> dict[str, object]:
    result: dict[str, object] = {}
    with platform(runtime, "corralcib", "10.243.0.0/16", "ccb", pool_size=2):
        result["template_build_s"] = corral_cli("template", "build", TEMPLATE)
        result["tti_pool_empty_ms"] = tti(runs, 0.0)  # the pool starts after a create
        result["tti_pool_hit_ms"] = tti(runs, 3.0 if runtime == "crun" else 4.0)
        result["run_code_round_trip_ms"] = round_trip(100)
    return result


def main() -> None:
    run_per_runtime(__doc__, measure, 15)


if __name__ == "__main__":
    main()
