"""The initial schema: teams, users, keys, templates and builds, snapshots, nodes, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written by hand after `corral.api.db.models`; tests/api/db/test_migrations.py checks that
autogenerate finds no difference, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        at("created_at"),
        sa.Column("max_concurrent_sandboxes", sa.Integer(), nullable=False),
        sa.Column("max_vcpu", sa.Integer(), nullable=False),
        sa.Column("max_memory_mb", sa.Integer(), nullable=False),
        sa.Column("max_disk_mb", sa.Integer(), nullable=False),
        sa.Column("max_lifetime_s", sa.Integer(), nullable=False),
        sa.Column("rate_limit_per_s", sa.Double(), nullable=False),
        sa.Column("rate_limit_burst", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
    )
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        at("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "users_teams",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        at("created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_users_teams_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_users_teams_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "team_id", name="pk_users_teams"),
    )
    op.create_index("ix_users_teams_team_id", "users_teams", ["team_id"])
    op.create_table(
        "team_api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_mask", sa.String(64), nullable=False),
        at("created_at"),
        at("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_team_api_keys_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_team_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_team_api_keys_key_hash"),
    )
    op.create_index("ix_team_api_keys_team_id", "team_api_keys", ["team_id"])
    op.create_table(
        "access_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_mask", sa.String(64), nullable=False),
        at("created_at"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_access_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_access_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_access_tokens_token_hash"),
    )
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "envs",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        at("created_at"),
        at("updated_at"),
        sa.Column("spawn_count", sa.BigInteger(), nullable=False),
        at("last_spawned_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_envs_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_envs"),
    )
    op.create_index("ix_envs_team_id", "envs", ["team_id"])
    op.create_table(
        "env_aliases",
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("env_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name="fk_env_aliases_env_id_envs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("alias", name="pk_env_aliases"),
    )
    op.create_index("ix_env_aliases_env_id", "env_aliases", ["env_id"])
    op.create_table(
        "env_builds",
        sa.Column("id", ID, nullable=False),
        sa.Column("env_id", ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        at("created_at"),
        at("finished_at", nullable=True),
        sa.Column("vcpu", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_mb", sa.Integer(), nullable=False),
        sa.Column("envd_version", sa.String(64), nullable=True),
        sa.Column("start_cmd", sa.Text(), nullable=True),
        sa.Column("ready_cmd", sa.Text(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rootfs", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name="fk_env_builds_env_id_envs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_env_builds"),
    )
    op.create_index("ix_env_builds_env_id_status", "env_builds", ["env_id", "status", "created_at"])
    op.create_table(
        "env_build_logs",
        sa.Column("seq", BIGID, autoincrement=True, nullable=False),
        sa.Column("build_id", ID, nullable=False),
        at("at"),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("step", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["env_builds.id"],
            name="fk_env_build_logs_build_id_env_builds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_env_build_logs"),
    )
    op.create_index("ix_env_build_logs_build_id_seq", "env_build_logs", ["build_id", "seq"])
    op.create_table(
        "snapshots",
        sa.Column("id", ID, nullable=False),
        sa.Column("sandbox_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("base_env_id", ID, nullable=False),
        sa.Column("env_id", ID, nullable=True),
        sa.Column("node_id", ID, nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("memory", sa.Boolean(), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        at("created_at"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_snapshots_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
    )
    op.create_index("ix_snapshots_team_id", "snapshots", ["team_id"])
    op.create_index("ix_snapshots_sandbox_id_created_at", "snapshots", ["sandbox_id", "created_at"])
    op.create_table(
        "nodes",
        sa.Column("id", ID, nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        at("created_at"),
        at("last_seen_at"),
        sa.PrimaryKeyConstraint("id", name="pk_nodes"),
    )
    op.create_table(
        "sandbox_events",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("sandbox_id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        at("at"),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_events"),
    )
    op.create_index("ix_sandbox_events_sandbox_id_id", "sandbox_events", ["sandbox_id", "id"])
    op.create_index("ix_sandbox_events_team_id_at", "sandbox_events", ["team_id", "at"])


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes.
    for table in (
        "sandbox_events",
        "nodes",
        "snapshots",
        "env_build_logs",
        "env_builds",
        "env_aliases",
        "envs",
        "access_tokens",
        "team_api_keys",
        "users_teams",
        "users",
        "teams",
    ):
        op.drop_table(table)
