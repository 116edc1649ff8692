"""What the proxy adds to a request: p50 of a tiny envd request (`GET /health`), direct vs
through the proxy, the two interleaved so that machine noise hits both alike.

The proxy runs in its own process (sharing the test's GIL would inflate it): in memory as in
`corral up`, and as `corral proxy` reading routes from Redis as in a cluster. Run with `-s` to
see the numbers; the assertion only catches gross regressions (CI machines are noisy).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, wait_http
from tests.proxy.conftest import ENVD_PORT, Sandbox, stop_process

ROUNDS = 200
WARMUP = 50


def measure(proxy_url: str, sandbox: Sandbox) -> tuple[float, float]:
    """p50 in ms of direct and proxied round trips on keep-alive connections."""
    direct_url = f"http://{sandbox.address}:{ENVD_PORT}/health"
    headers = {"E2b-Sandbox-Id": sandbox.sandbox_id, "E2b-Sandbox-Port": str(ENVD_PORT)}
    direct, proxied = [], []
    with httpx.Client(trust_env=False) as client:
        for i in range(WARMUP + ROUNDS):
            started = time.perf_counter()
            assert client.get(direct_url).status_code == 204
            middle = time.perf_counter()
            assert client.get(f"{proxy_url}/health", headers=headers).status_code == 204
            if i >= WARMUP:
                direct.append(middle - started)
                proxied.append(time.perf_counter() - middle)
    return statistics.median(direct) * 1000, statistics.median(proxied) * 1000


def report(label: str, direct: float, proxied: float) -> None:
    print(f"\n{label}: direct p50 {direct:.3f} ms, proxied p50 {proxied:.3f} ms, "
          f"overhead {proxied - direct:.3f} ms")  # fmt: skip


def start(cmd: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    # Any answer means it listens (400: no routing headers).
    wait_http(f"http://127.0.0.1:{port}/", proc=proc)
    return proc


@pytest.fixture(params=["uvicorn", "hypercorn"])
def memory_proxy(request: pytest.FixtureRequest, sandbox_a: Sandbox) -> Iterator[tuple[str, str]]:
    port = free_port()
    cmd = [sys.executable, "-m", "tests.proxy.proxy_process", str(port), request.param]
    proc = start([*cmd, sandbox_a.sandbox_id, sandbox_a.address], port)
    yield request.param, f"http://127.0.0.1:{port}"
    stop_process(proc)


def test_overhead_in_memory(memory_proxy: tuple[str, str], sandbox_a: Sandbox) -> None:
    engine, url = memory_proxy
    direct, proxied = measure(url, sandbox_a)
    report(f"{engine}, memory catalog", direct, proxied)
    assert proxied - direct < 5.0


def test_corral_proxy_command_with_redis_catalog(redis_url: str, sandbox_a: Sandbox) -> None:
    """`corral proxy` as a cluster runs it: routes published to Redis by someone else."""
    import asyncio

    from corral.catalog.redis import RedisCatalog

    async def publish() -> None:
        catalog = RedisCatalog(redis_url)
        await catalog.put(sandbox_a.route)
        await catalog.close()

    asyncio.run(publish())
    port = free_port()
    env = os.environ | {"CORRAL_PROXY_CATALOG_URL": redis_url}
    corral = Path(sys.executable).with_name("corral")
    if not corral.exists():
        pytest.skip("the corral console script is not installed in this environment")
    cmd = [str(corral), "proxy", "--port", str(port)]
    proc = start([*cmd, "--log-level", "warning"], port, env)
    try:
        direct, proxied = measure(f"http://127.0.0.1:{port}", sandbox_a)
        report("uvicorn, redis catalog (corral proxy)", direct, proxied)
        assert proxied - direct < 5.0
        proc.terminate()
        assert proc.wait(10) == 0  # SIGTERM is a clean stop
    finally:
        stop_process(proc)
