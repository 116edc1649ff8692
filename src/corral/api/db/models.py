"""The control plane's tables, after E2B's schema (teams, keys, envs, builds, snapshots, …).

Only `corral.api.db.store` touches these classes; everything else sees the frozen records of
`records.py`. Constraint names come from a naming convention so that SQLite and PostgreSQL
reflect the same names and `versions/0001_initial.py` can spell them out.

There are no server-side defaults: the store sets every value, so the schema stays identical
on both databases and a migration never has to translate a default between dialects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
"""Identifiers: uuid4 strings, E2B-style 20-character template ids, sandbox ids."""

BIGID = BigInteger().with_variant(Integer, "sqlite")
"""Autoincrement keys: SQLite only autoincrements an INTEGER PRIMARY KEY."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on both databases.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones and would silently drop one, so
    values are stored as naive UTC and given their zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(none_as_null=True),
        list[str]: JSON(none_as_null=True),
    }


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    max_concurrent_sandboxes: Mapped[int] = mapped_column(Integer, default=20)
    max_vcpu: Mapped[int] = mapped_column(Integer, default=8)
    max_memory_mb: Mapped[int] = mapped_column(Integer, default=8192)
    max_disk_mb: Mapped[int] = mapped_column(Integer, default=20480)
    max_lifetime_s: Mapped[int] = mapped_column(Integer, default=86400)
    rate_limit_per_s: Mapped[float] = mapped_column(Double, default=20.0)
    rate_limit_burst: Mapped[int] = mapped_column(Integer, default=40)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime]


class TeamMember(Base):
    """E2B's `users_teams`: which teams a user acts for, and the one used when none is named."""

    __tablename__ = "users_teams"

    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(
        ID, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_default: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """E2B's `team_api_keys`: the raw key is shown once; only its sha256 and a mask are kept."""

    __tablename__ = "team_api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    team_id: Mapped[str] = mapped_column(ID, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_mask: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class AccessToken(Base):
    """A user's personal token (`sk_e2b_…`), used by the CLI for team and template management."""

    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_mask: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Env(Base):
    """A template. `team_id` NULL: owned by the platform (the default templates)."""

    __tablename__ = "envs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    team_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    public: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    spawn_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_spawned_at: Mapped[datetime | None]


class EnvAlias(Base):
    """A template's names (`base`, `code-interpreter-v1`, a user's template name): global."""

    __tablename__ = "env_aliases"

    alias: Mapped[str] = mapped_column(String(255), primary_key=True)
    env_id: Mapped[str] = mapped_column(ID, ForeignKey("envs.id", ondelete="CASCADE"), index=True)


class EnvBuild(Base):
    """One build of a template; sandboxes start from the latest `ready` one."""

    __tablename__ = "env_builds"
    __table_args__ = (Index("ix_env_builds_env_id_status", "env_id", "status", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    env_id: Mapped[str] = mapped_column(ID, ForeignKey("envs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    vcpu: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_mb: Mapped[int] = mapped_column(Integer)
    envd_version: Mapped[str | None] = mapped_column(String(64))
    start_cmd: Mapped[str | None] = mapped_column(Text)
    ready_cmd: Mapped[str | None] = mapped_column(Text)
    spec: Mapped[dict[str, Any] | None]
    """What to build: E2B's v3 `steps` (with `fromImage`, …) or a legacy `dockerfile`."""
    reason: Mapped[str | None] = mapped_column(Text)
    rootfs: Mapped[str | None] = mapped_column(Text)
    """Where the built artifact is (a path or reference the orchestrators understand)."""
    tags: Mapped[list[str] | None]
    """The tags the build takes when it becomes ready (`POST /v3/templates`); None: `default`."""


class EnvTag(Base):
    """E2B's template tags: `name:tag` names one build of the template; assigning moves it.

    `default` is what a bare `name` starts. One row per tag (the current assignment): E2B
    keeps the history of assignments, which nothing the SDK calls reads.
    """

    __tablename__ = "env_tags"

    env_id: Mapped[str] = mapped_column(
        ID, ForeignKey("envs.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(128), primary_key=True)
    build_id: Mapped[str] = mapped_column(
        ID, ForeignKey("env_builds.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    """When the tag was (last) assigned."""


class EnvBuildLog(Base):
    """Build output, one row per line, so a poller reads only what is new (`logsOffset`)."""

    __tablename__ = "env_build_logs"
    __table_args__ = (Index("ix_env_build_logs_build_id_seq", "build_id", "seq"),)

    seq: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    """Global insertion order; a build's lines are read in this order, by position."""
    build_id: Mapped[str] = mapped_column(ID, ForeignKey("env_builds.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    level: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    step: Mapped[str | None] = mapped_column(String(64))


class Snapshot(Base):
    """A paused sandbox or a named snapshot: where its state lives and how to bring it back."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_sandbox_id_created_at", "sandbox_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    sandbox_id: Mapped[str] = mapped_column(ID)
    team_id: Mapped[str] = mapped_column(ID, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    base_env_id: Mapped[str] = mapped_column(ID)
    """The template the sandbox was created from (no foreign key: it may be deleted first)."""
    env_id: Mapped[str | None] = mapped_column(ID)
    """Set when the snapshot can itself be used as a template (`create_snapshot`)."""
    node_id: Mapped[str] = mapped_column(ID)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    memory: Mapped[bool] = mapped_column(Boolean)
    names: Mapped[list[str]]
    config: Mapped[dict[str, Any]]
    """What resuming needs besides the node's artifact: resources, envd version, lifecycle."""
    created_at: Mapped[datetime]


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class SandboxEvent(Base):
    """Lifecycle history (created, paused, killed, …) for usage and audit.

    No foreign key to teams: the history outlives what it describes.
    """

    __tablename__ = "sandbox_events"
    __table_args__ = (
        Index("ix_sandbox_events_sandbox_id_id", "sandbox_id", "id"),
        Index("ix_sandbox_events_team_id_at", "team_id", "at"),
    )

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    sandbox_id: Mapped[str] = mapped_column(ID)
    team_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
