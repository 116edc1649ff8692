"""What a first start puts in the database: the default templates, a first team and API key.

The raw key is shown once by the API, but `corral up` prints the export lines on every start, so
it keeps the first key in `<data_dir>/up/api-key` (mode 0600, root's): whoever can read that
file already controls the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corral.api.db.store import Store
from corral.envd import ENVD_VERSION


@dataclass(frozen=True)
class DefaultTemplate:
    id: str
    rootfs: Path
    vcpu: int = 2
    memory_mb: int = 512
    disk_mb: int = 1024


async def register_templates(store: Store, templates: list[DefaultTemplate]) -> None:
    """Platform-wide public templates, each under its own id as alias (`base`, …)."""
    for t in templates:
        await store.register_template(
            t.id,
            team_id=None,
            public=True,
            aliases=[t.id],
            vcpu=t.vcpu,
            memory_mb=t.memory_mb,
            disk_mb=t.disk_mb,
            envd_version=ENVD_VERSION,
            rootfs=str(t.rootfs),
        )


async def first_api_key(store: Store, key_file: Path, team_name: str = "default") -> str:
    """The key `corral up` prints: made with the first team on the first start, then re-read.

    A key file whose key no longer works (deleted through the API) gets a fresh key for the
    first team rather than a dead export line.
    """
    raw = _read(key_file)
    if raw and await store.team_for_api_key(raw) is not None:
        return raw
    teams = await store.list_teams()
    team = teams[0] if teams else await store.create_team(team_name)
    _, raw = await store.create_api_key(team.id, "corral up")
    _write_private(key_file, raw)
    return raw


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
