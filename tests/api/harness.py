"""The API served for real (uvicorn on loopback) over a real orchestrator server.

The orchestrator runs the tests' fake driver, whose sandboxes are real envd processes on
127.x addresses, so requests go API → gRPC → node → envd as in production, on SQLite or
PostgreSQL, without needing a container runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from corral.api.app import create_app
from corral.api.bootstrap import DefaultTemplate, register_templates
from corral.api.db.database import Database
from corral.api.db.store import Store
from corral.api.settings import ApiSettings, NodeConfig
from corral.catalog.memory import MemoryCatalog
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from tests.conftest import free_port
from tests.envd.conftest import TEST_USER, ensure_test_user
from tests.orchestrator.fake_driver import FakeDriver

SECRET = "api-test-secret-0123456789"


@dataclass
class Api:
    url: str
    store: Store
    catalog: MemoryCatalog
    driver: FakeDriver
    key: str
    team_id: str
    settings: ApiSettings

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"X-API-KEY": key if key is not None else self.key}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@contextlib.asynccontextmanager
async def serve_app(settings: ApiSettings, catalog: MemoryCatalog) -> AsyncIterator[str]:
    """One API process's app served by uvicorn at `settings.port`; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, catalog=catalog),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_api(
    database_url: str, tmp_path: Path, *, rate_limit_url: str = ""
) -> AsyncIterator[Api]:
    ensure_test_user()
    logs = tmp_path / "envd-logs"
    logs.mkdir()
    driver = FakeDriver(user=TEST_USER, log_dir=logs)
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    orchestrator = OrchestratorServer(
        OrchestratorSettings(
            host="127.0.0.1",
            port=0,
            secret=SecretStr(SECRET),
            data_dir=tmp_path / "node",
            sandbox_user=TEST_USER,
            pool_size=0,
            reaper_interval=0.1,
        ),
        driver,
        StaticTemplates({"base": rootfs}),
    )
    port = await orchestrator.start()
    database = Database(database_url)
    await database.upgrade()
    store = Store(database)
    await register_templates(store, [DefaultTemplate("base", rootfs)])
    team = await store.create_team("tests")
    _, key = await store.create_api_key(team.id, "tests")
    settings = ApiSettings(
        port=free_port(),
        database_url=database_url,
        nodes=[NodeConfig(id="node-1", target=f"127.0.0.1:{port}")],
        orchestrator_secret=SecretStr(SECRET),
        rate_limit_url=rate_limit_url,
    )
    catalog = MemoryCatalog()
    try:
        async with serve_app(settings, catalog) as url:
            yield Api(url, store, catalog, driver, key, team.id, settings)
    finally:
        await orchestrator.stop()
        for sandbox_id in list(driver.sandboxes):
            await driver.destroy(sandbox_id)
        await driver.close()
        await database.dispose()
