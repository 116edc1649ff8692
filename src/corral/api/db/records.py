"""What the store hands out: frozen snapshots of rows, safe to cache and share between tasks.

ORM objects never leave `corral.api.db.store`: they are bound to a session and would lazily
query (or fail) long after their transaction ended. Datetimes are aware, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

BuildStatus = Literal["waiting", "building", "ready", "error"]
BUILD_STATUSES: tuple[BuildStatus, ...] = ("waiting", "building", "ready", "error")


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: str
    name: str
    created_at: datetime
    max_concurrent_sandboxes: int
    max_vcpu: int
    max_memory_mb: int
    max_disk_mb: int
    max_lifetime_s: int
    rate_limit_per_s: float
    rate_limit_burst: int


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    team_id: str
    name: str
    key_mask: str
    """`e2b_` + the first and last four characters of the secret part: `e2b_ab12…cd34`."""
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    id: str
    user_id: str
    name: str
    token_mask: str
    """`sk_e2b_` + the first and last four characters of the secret part."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A template with its current build: the latest ready one, else the latest of any status.

    `resolve_template` only returns templates whose build is ready; `get_template` and
    `list_templates` also show templates still building (`build_status` says which), whose
    `rootfs` and `envd_version` may then be empty strings.
    """

    id: str
    team_id: str | None
    """None: a platform template (the defaults), owned by no team."""
    public: bool
    aliases: tuple[str, ...]
    build_id: str
    build_status: BuildStatus
    vcpu: int
    memory_mb: int
    disk_mb: int
    envd_version: str
    rootfs: str
    start_cmd: str | None
    ready_cmd: str | None
    created_at: datetime
    updated_at: datetime
    spawn_count: int
    last_spawned_at: datetime | None
    build_count: int


@dataclass(frozen=True, slots=True)
class BuildRecord:
    id: str
    template_id: str
    status: BuildStatus
    created_at: datetime
    finished_at: datetime | None
    vcpu: int
    memory_mb: int
    disk_mb: int
    envd_version: str | None
    start_cmd: str | None
    ready_cmd: str | None
    spec: dict[str, Any] | None
    reason: str | None
    rootfs: str | None


@dataclass(frozen=True, slots=True)
class TagRecord:
    """A template tag: `name:tag` starts this build."""

    template_id: str
    tag: str
    build_id: str
    created_at: datetime
    """When the tag was last assigned (to this build)."""


@dataclass(frozen=True, slots=True)
class BuildLogRecord:
    offset: int
    """Position of the line in its build's log, from 0: the next poll's `logsOffset` is last+1."""
    at: datetime
    level: str
    message: str
    step: str | None


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    id: str
    sandbox_id: str
    team_id: str
    base_env_id: str
    env_id: str | None
    node_id: str
    metadata: dict[str, str]
    memory: bool
    names: tuple[str, ...]
    config: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NodeRecord:
    id: str
    address: str
    status: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    sandbox_id: str
    team_id: str
    kind: str
    at: datetime
    data: dict[str, Any]
