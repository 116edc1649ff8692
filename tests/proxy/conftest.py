"""Real envd processes as "sandboxes", each on its own loopback address at envd's real port
(49983), as sandboxes have their own IPs; the proxy runs in-process on a background event loop
so that the synchronous SDK can drive it from the test thread.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from corral.catalog.memory import MemoryCatalog
from corral.catalog.redis import RedisCatalog
from corral.catalog.types import Route, RoutingCatalog
from corral.proxy.app import WakePaused
from corral.proxy.server import ProxyServer
from corral.proxy.settings import ProxySettings
from tests.conftest import free_port, wait_http
from tests.envd.conftest import TEST_USER, ensure_test_user

ENVD_PORT = 49983
T = TypeVar("T")


def free_loopback_address(port: int = ENVD_PORT) -> str:
    """A 127.x.y.z address where `port` is free (the whole 127/8 is loopback on Linux)."""
    for _ in range(100):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                continue
            return address
    raise RuntimeError("no free loopback address")


@dataclass
class Sandbox:
    """One envd standing in for a sandbox: reached at `address:49983`."""

    sandbox_id: str
    address: str
    token: str
    proc: subprocess.Popen[bytes]

    @property
    def route(self) -> Route:
        return Route(sandbox_id=self.sandbox_id, address=self.address, node_id="test")


def start_sandbox(sandbox_id: str, token: str) -> Sandbox:
    ensure_test_user()
    address = free_loopback_address()
    cmd = [sys.executable, "-m", "corral.envd", "--host", address, "--port", str(ENVD_PORT)]
    cmd += ["--default-user", TEST_USER, "--access-token", token]
    proc = subprocess.Popen(cmd)
    wait_http(f"http://{address}:{ENVD_PORT}/health", proc=proc)
    return Sandbox(sandbox_id, address, token, proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def sandbox_a() -> Iterator[Sandbox]:
    sandbox = start_sandbox("sbxalpha1", "token-alpha")
    yield sandbox
    stop_process(sandbox.proc)


@pytest.fixture(scope="session")
def sandbox_b() -> Iterator[Sandbox]:
    sandbox = start_sandbox("sbxbravo2", "token-bravo")
    yield sandbox
    stop_process(sandbox.proc)


class LoopThread:
    """An event loop on a daemon thread, for servers the synchronous tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class RunningProxy:
    server: ProxyServer
    catalog: RoutingCatalog
    thread: LoopThread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def put(self, route: Route) -> None:
        self.thread.run(self.catalog.put(route))

    def delete(self, sandbox_id: str) -> None:
        self.thread.run(self.catalog.delete(sandbox_id))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.thread.run(coro)


def start_proxy(
    settings: ProxySettings,
    make_catalog: Callable[[], Awaitable[RoutingCatalog]],
    wake_paused: WakePaused | None = None,
) -> RunningProxy:
    thread = LoopThread()
    catalog = thread.run(make_catalog())  # built on the loop that will use it (redis)
    server = ProxyServer(settings, catalog, wake_paused=wake_paused)
    thread.run(server.start())
    return RunningProxy(server, catalog, thread)


def stop_proxy(proxy: RunningProxy) -> None:
    proxy.thread.run(proxy.server.stop())
    proxy.thread.run(proxy.catalog.close())
    proxy.thread.close()


async def memory_catalog() -> RoutingCatalog:
    return MemoryCatalog()


@pytest.fixture(scope="module")
def proxy(sandbox_a: Sandbox, sandbox_b: Sandbox) -> Iterator[RunningProxy]:
    """Plain-HTTP proxy (uvicorn) with both sandboxes routed through a MemoryCatalog."""
    running = start_proxy(
        ProxySettings(host="127.0.0.1", port=0, domain="corral.test"), memory_catalog
    )
    running.put(sandbox_a.route)
    running.put(sandbox_b.route)
    yield running
    stop_proxy(running)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed (scripts/setup-host.sh installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            stop_process(proc)
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0"
    stop_process(proc)


def redis_catalog_factory(url: str) -> Callable[[], Awaitable[RoutingCatalog]]:
    async def make() -> RoutingCatalog:
        return RedisCatalog(url, prefix=f"test-{random.getrandbits(32):x}:")

    return make
