"""The real isolation stack for `corral orchestrator`: the OCI driver on this host's runtime.

Kept apart from the rest of the package, and importing the driver's modules inside the function,
so that the orchestrator itself (and its tests, with a fake driver) never loads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from corral.orchestrator.settings import OrchestratorSettings
from corral.orchestrator.templates import BuiltTemplates, NodeTemplates, StaticTemplates

if TYPE_CHECKING:
    from corral.runtime.types import Driver


async def build_oci_driver(settings: OrchestratorSettings) -> tuple[Driver, NodeTemplates]:
    """The OCI driver (runsc or crun) with its networks and envd distribution, and the templates
    it can start (`base` → the base rootfs, built on first use)."""
    from corral.runtime.envd_dist import ensure_envd_dist, envd_command
    from corral.runtime.network import SandboxNetworks
    from corral.runtime.oci import OciDriver
    from corral.runtime.rootfs import ensure_base_rootfs

    networks = SandboxNetworks(
        pool=settings.address_pool,
        state_dir=Path("/run") / settings.instance / "network",
        ifname_prefix=settings.ifname_prefix,
        netns_prefix=f"{settings.instance}-",
        table=settings.instance.replace("-", "_"),
    )
    await networks.setup()
    driver = OciDriver(
        runtime=settings.runtime,
        data_dir=settings.data_dir,
        networks=networks,
        envd_dir=await ensure_envd_dist(settings.data_dir / "envd"),
        envd_argv=envd_command(),
        instance=settings.instance,
    )
    templates = dict(settings.templates)
    templates["base"] = await ensure_base_rootfs(
        templates.get("base", settings.data_dir / "images" / "base" / "rootfs")
    )
    built = BuiltTemplates(settings.templates_dir)
    return driver, NodeTemplates(StaticTemplates(templates), built)
