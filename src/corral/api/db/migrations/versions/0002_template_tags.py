"""Template tags: `env_tags` (which build each `name:tag` names) and the tags a build asked for.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Every template that has a ready build gets its `default` tag on that (latest ready) build, so
that a bare name keeps starting what it started before the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)

DEFAULT_TAGS = """
INSERT INTO env_tags (env_id, tag, build_id, created_at)
SELECT b.env_id, 'default', b.id, COALESCE(b.finished_at, b.created_at)
FROM env_builds AS b
WHERE b.status = 'ready' AND NOT EXISTS (
    SELECT 1 FROM env_builds AS later
    WHERE later.env_id = b.env_id AND later.status = 'ready'
      AND (later.created_at > b.created_at
           OR (later.created_at = b.created_at AND later.id > b.id))
)
"""


def upgrade() -> None:
    op.add_column("env_builds", sa.Column("tags", sa.JSON(), nullable=True))
    op.create_table(
        "env_tags",
        sa.Column("env_id", ID, nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("build_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["env_id"], ["envs.id"], name="fk_env_tags_env_id_envs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["env_builds.id"],
            name="fk_env_tags_build_id_env_builds",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("env_id", "tag", name="pk_env_tags"),
    )
    op.create_index("ix_env_tags_build_id", "env_tags", ["build_id"])
    op.execute(DEFAULT_TAGS)


def downgrade() -> None:
    op.drop_index("ix_env_tags_build_id", table_name="env_tags")
    op.drop_table("env_tags")
    with op.batch_alter_table("env_builds") as batch:
        batch.drop_column("tags")
