"""Host-side settings, read from `CORRAL_*` environment variables.

Host processes only (CLI, orchestrator, API): envd runs inside sandboxes without pydantic, so
nothing under `corral.envd` may import this module.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("/var/lib/corral")


class HostSettings(BaseSettings):
    """Where this host keeps Corral's state; other components extend it with their own fields."""

    model_config = SettingsConfigDict(env_prefix="CORRAL_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    """Images, envd distributions, sandbox disks: everything Corral writes on the host."""
