"""`corral orchestrator`: settings from the environment, the real driver, then serve."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic

from corral import logs
from corral.orchestrator.settings import OrchestratorSettings
from corral.runtime.errors import HostSetupError


def run(log_level: str = "info", **overrides: Any) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code (2: bad settings).

    `overrides` are command-line options; None means "not given" (the environment decides).
    """
    logs.configure(log_level)
    log = logs.get("orchestrator")
    try:
        settings = OrchestratorSettings(**{k: v for k, v in overrides.items() if v is not None})
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            log.error("bad setting", field=".".join(map(str, error["loc"])), error=error["msg"])
        return 2
    try:
        asyncio.run(_serve(settings))
    except HostSetupError as exc:  # the message names the fix, as `corral doctor` would
        log.error("host not ready for sandboxes", error=str(exc))
        return 1
    return 0


async def _serve(settings: OrchestratorSettings) -> None:
    from corral.orchestrator.server import serve
    from corral.orchestrator.wiring import build_oci_driver

    driver, templates = await build_oci_driver(settings)
    await serve(settings, driver, templates)
