"""The on-disk record of a sandbox (`sandbox.json`): what a restarted orchestrator re-adopts from.

Written atomically (temp file + rename), so a crash leaves the old record or the new one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from corral.runtime.types import Resources, RuntimeSandbox, SandboxNetwork


def dump_record(path: Path, sandbox: RuntimeSandbox, rootfs: Path) -> None:
    data: dict[str, Any] = asdict(sandbox)
    data["network"]["address"] = str(sandbox.network.address)
    data["network"]["gateway"] = str(sandbox.network.gateway)
    data["rootfs"] = str(rootfs)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load_record(path: Path) -> tuple[RuntimeSandbox, Path]:
    """The sandbox and the lower (template) layer it was made from."""
    data = json.loads(path.read_text())
    net = data["network"]
    network = SandboxNetwork(
        sandbox_id=net["sandbox_id"],
        netns=net["netns"],
        host_ifname=net["host_ifname"],
        address=IPv4Address(net["address"]),
        gateway=IPv4Address(net["gateway"]),
        internet=bool(net["internet"]),
    )
    sandbox = RuntimeSandbox(
        sandbox_id=data["sandbox_id"],
        template_id=data["template_id"],
        runtime=data["runtime"],
        network=network,
        resources=Resources(**data["resources"]),
        state=data["state"],
    )
    return sandbox, Path(data["rootfs"])
