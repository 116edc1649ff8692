"""A paused sandbox whose node is gone is resumed by another, through the API and the SDK.

Two real orchestrators on the tests' fake driver share an artifact store (a directory). The
sandbox is paused to its files (the fake driver saves files only), its node stops, and
`Sandbox.connect` finds it anyway: the API asks the remaining node, which adopts the pause
from the store. The gVisor version, with memory, is tests/orchestrator/test_saved_sandboxes.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2b import AsyncSandbox, SandboxNotFoundException
from pydantic import SecretStr

from corral.api.bootstrap import DefaultTemplate, register_templates
from corral.api.db.database import Database
from corral.api.db.store import Store
from corral.api.settings import ApiSettings, NodeConfig
from corral.catalog.memory import MemoryCatalog
from corral.orchestrator.server import OrchestratorServer
from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import StaticTemplates
from tests.api.harness import SECRET, serve_app
from tests.conftest import free_port
from tests.envd.conftest import TEST_USER, ensure_test_user
from tests.orchestrator.fake_driver import FakeDriver


class FakeNode:
    def __init__(self, directory: Path, artifacts: Path, rootfs: Path) -> None:
        (directory / "logs").mkdir(parents=True)
        self.driver = FakeDriver(user=TEST_USER, log_dir=directory / "logs")
        self.server = OrchestratorServer(
            OrchestratorSettings(
                host="127.0.0.1",
                port=0,
                secret=SecretStr(SECRET),
                data_dir=directory / "data",
                sandbox_user=TEST_USER,
                pool_size=0,
                artifacts=str(artifacts),
            ),
            self.driver,
            StaticTemplates({"base": rootfs}),
        )
        self.target = ""

    async def start(self) -> None:
        self.target = f"127.0.0.1:{await self.server.start()}"

    async def stop(self) -> None:
        await self.server.stop(grace=0)
        await self.driver.close()


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[FakeNode, FakeNode, str, str]]:
    ensure_test_user()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    first, second = (FakeNode(tmp_path / n, tmp_path / "artifacts", rootfs) for n in "ab")
    await first.start()
    await second.start()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    database = Database(database_url)
    await database.upgrade()
    store = Store(database)
    await register_templates(store, [DefaultTemplate("base", rootfs)])
    team = await store.create_team("movers")
    _, key = await store.create_api_key(team.id, "movers")
    settings = ApiSettings(
        port=free_port(),
        database_url=database_url,
        nodes=[NodeConfig(id="a", target=first.target), NodeConfig(id="b", target=second.target)],
        orchestrator_secret=SecretStr(SECRET),
    )
    try:
        async with serve_app(settings, MemoryCatalog()) as url:
            yield first, second, url, key
    finally:
        await second.stop()
        await database.dispose()


async def test_connect_resumes_on_another_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_nodes(tmp_path) as (first, second, url, key):
        monkeypatch.setenv("E2B_API_KEY", key)
        monkeypatch.setenv("E2B_API_URL", url)
        monkeypatch.delenv("E2B_DOMAIN", raising=False)
        sbx = await AsyncSandbox.create(timeout=120, envs={"KEPT": "yes"})
        home = first if sbx.sandbox_id in str(list(first.server.node.registry)) else second
        other = second if home is first else first
        monkeypatch.setenv("E2B_SANDBOX_URL", f"http://{home.target}")  # unused: envd direct
        assert await sbx.pause(mode="filesystem") is True
        await home.stop()
        resumed = await AsyncSandbox.connect(sbx.sandbox_id, timeout=60)
        assert resumed.sandbox_id == sbx.sandbox_id
        record = other.server.node.registry.get(sbx.sandbox_id)
        assert record is not None and record.state == "running"
        # A pause that was never saved is still unknown.
        with pytest.raises(SandboxNotFoundException):
            await AsyncSandbox.connect("inotpausedanywhere000", timeout=60)
        if home is second:  # the context manager stops `second`; let it stop a live one
            await second.start()
