"""`corral up` as a user runs it (a real process: orchestrator, API, proxy, a real runtime),
driven only through the official e2b SDK with E2B_API_KEY / E2B_API_URL / E2B_SANDBOX_URL.

Its host resources are named apart from a real platform's (instance, address pool, veth
prefix, ports), and it reuses the base rootfs the other tests build, so it starts in seconds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.api.db.database import Database
from corral.api.db.store import Store
from tests.e2e.launch import start_corral_up, stop_corral_up

RUNTIMES = ("crun", "runsc")


@dataclass
class Platform:
    proc: subprocess.Popen[str]
    data_dir: Path
    exports: dict[str, str]

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.data_dir / 'corral.db'}"

    def store_call(self, method: str, *args: object, **kwargs: object) -> object:
        """Run one Store method on the platform's database (for test setup: teams, limits)."""

        async def call() -> object:
            database = Database(self.database_url)
            try:
                return await getattr(Store(database), method)(*args, **kwargs)
            finally:
                await database.dispose()

        return asyncio.run(call())


@pytest.fixture(scope="session", params=RUNTIMES)
def platform(
    request: pytest.FixtureRequest, base_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    runtime: str = request.param
    if os.geteuid() != 0 or shutil.which(runtime) is None:
        pytest.skip(f"corral up needs root and {runtime}")
    data_dir = tmp_path_factory.mktemp("corral-up")
    proc, exports = start_corral_up(
        runtime=runtime,
        data_dir=data_dir,
        base_rootfs=base_rootfs,
        instance="corrale2e",
        pool="10.251.0.0/16",
        ifname_prefix="cre",
        extra_env={
            "CORRAL_ORCHESTRATOR_REAPER_INTERVAL": "0.2",
            "CORRAL_ORCHESTRATOR_TEMPLATE_READY_TIMEOUT": "8",
        },
    )
    yield Platform(proc, data_dir, exports)
    stop_corral_up(proc)
    asyncio.run(remove_everything(data_dir, base_rootfs, runtime))


async def remove_everything(
    data_dir: Path,
    base_rootfs: Path,
    runtime: str,
    *,
    instance: str = "corrale2e",
    pool: str = "10.251.0.0/16",
    ifname_prefix: str = "cre",
) -> None:
    """`corral up` keeps sandboxes across restarts; the test run ends them all."""
    from corral.orchestrator.settings import OrchestratorSettings
    from corral.orchestrator.wiring import build_oci_driver

    settings = OrchestratorSettings(
        dev=True,
        data_dir=data_dir,
        runtime=runtime,  # type: ignore[arg-type]
        instance=instance,
        address_pool=pool,
        ifname_prefix=ifname_prefix,
        templates={"base": base_rootfs},
    )
    driver, _ = await build_oci_driver(settings)
    await driver.cleanup_orphans(keep=set())


@pytest.fixture
def sdk_env(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The three variables `corral up` printed, exported as a user would."""
    for name, value in platform.exports.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("E2B_DOMAIN", raising=False)
    monkeypatch.delenv("E2B_DEBUG", raising=False)
    return platform.exports
