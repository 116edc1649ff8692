"""The orchestrator's vocabulary: what a create asks for, and what the node remembers.

A `SandboxRecord` is the durable truth about one sandbox the node reported as running; it is
written to disk on every change (`registry.py`), so it holds plain data only.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from corral.orchestrator.errors import InvalidRequest
from corral.runtime.types import Resources, SandboxState

SANDBOX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Caller-chosen ids double as file names under the state directory: no dots, no slashes."""


def check_sandbox_id(sandbox_id: str) -> str:
    if not SANDBOX_ID.fullmatch(sandbox_id):
        raise InvalidRequest(f"invalid sandbox id {sandbox_id!r}: expected {SANDBOX_ID.pattern}")
    return sandbox_id


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PoolKey:
    """Warm pools are per template and resource shape: a pooled sandbox already has its limits."""

    template_id: str
    resources: Resources


@dataclass(frozen=True)
class CreateParams:
    """A validated create request (the service fills defaults before building one)."""

    sandbox_id: str
    template_id: str
    resources: Resources
    end_time: datetime
    build_id: str = ""
    team_id: str = ""
    env_vars: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    allow_internet_access: bool = True
    envd_access_token: str | None = None
    auto_pause: bool = False
    auto_resume: bool = False
    auto_pause_memory: bool = True
    timeout_seconds: int = 0
    """The lifetime asked for, in seconds (an end time's distance from now when given so)."""
    image_key: str = ""
    """The template image the node resolved (a build id for built templates)."""
    snapshot_id: str = ""
    """Start from this snapshot (a named one, a fork's source) rather than the template."""

    @property
    def pool_key(self) -> PoolKey:
        return PoolKey(self.image_key or self.template_id, self.resources)


@dataclass(frozen=True)
class SandboxRecord:
    """One sandbox as the node knows it; `runtime_id` is the driver's name for it.

    Runtime ids differ from sandbox ids because pooled sandboxes are started before any
    sandbox id exists.
    """

    sandbox_id: str
    runtime_id: str
    template_id: str
    resources: Resources
    address: str
    start_time: datetime
    end_time: datetime
    state: SandboxState = "running"
    build_id: str = ""
    team_id: str = ""
    env_vars: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    allow_internet_access: bool = True
    envd_access_token: str | None = None
    auto_pause: bool = False
    """Paused, not killed, at `end_time`; a paused sandbox is kept until it is deleted."""
    auto_resume: bool = False
    """Traffic may wake it when paused: kept for the control plane, which acts on it."""
    auto_pause_memory: bool = True
    """What the pause at `end_time` keeps: memory and processes (full), or files only."""
    timeout_seconds: int = 0
    """The lifetime it was created with: what an auto-resume gives it again."""
    paused_memory: bool = True
    """For a paused sandbox: whether memory and processes were kept (a full pause)."""
    snapshot_id: str = ""
    """For a paused sandbox whose state was saved (gVisor, filesystem pauses): the snapshot
    it resumes from. Empty for one frozen in place (crun's full pause)."""

    def evolve(self, **changes: Any) -> SandboxRecord:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start_time"] = self.start_time.isoformat()
        data["end_time"] = self.end_time.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxRecord:
        fields = dict(data)
        fields["resources"] = Resources(**fields["resources"])
        fields["start_time"] = datetime.fromisoformat(fields["start_time"])
        fields["end_time"] = datetime.fromisoformat(fields["end_time"])
        return cls(**fields)
