"""An orchestrator served in-process on a loopback port, with the fake driver's real envds.

`Harness.start()` can be called again after `stop()` on the same data directory and driver:
that is an orchestrator restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corral.orchestrator.client import OrchestratorClient
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from tests.envd.conftest import TEST_USER, ensure_test_user
from tests.orchestrator.fake_driver import FakeDriver

SECRET = "test-secret-0123456789"


@dataclass
class Harness:
    data_dir: Path
    driver: FakeDriver
    templates: StaticTemplates
    overrides: dict[str, Any] = field(default_factory=dict)
    server: OrchestratorServer | None = None
    client: OrchestratorClient | None = None

    def settings(self) -> OrchestratorSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "secret": SECRET,
            "data_dir": self.data_dir,
            "sandbox_user": TEST_USER,
            "pool_size": 0,
            "readiness_timeout": 15.0,
            "reaper_interval": 0.1,
            "shutdown_grace": 5.0,
            **self.overrides,
        }
        return OrchestratorSettings(**values)

    async def start(self, **overrides: Any) -> OrchestratorClient:
        self.overrides.update(overrides)
        self.server = OrchestratorServer(self.settings(), self.driver, self.templates)
        port = await self.server.start()
        self.client = OrchestratorClient(f"127.0.0.1:{port}", SECRET)
        return self.client

    @property
    def target(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.server is not None:
            await self.server.stop()
            self.server = None


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    path = tmp_path / "rootfs-base"
    path.mkdir()
    return path


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[FakeDriver]:
    ensure_test_user()
    logs = tmp_path / "envd-logs"
    logs.mkdir()
    fake = FakeDriver(user=TEST_USER, log_dir=logs)
    yield fake
    await fake.close()


@pytest.fixture
async def harness(tmp_path: Path, driver: FakeDriver, rootfs: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "data", driver, StaticTemplates({"base": rootfs}))
    yield h
    await h.stop()


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)
