"""Lawful publication: who published a policy version, why, and what it changed (the
changes against the version before, milder or harsher: policy.changes; and the impact across
the registry when it was published: registry.impact).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("published_by", sa.String(200)))
        batch.add_column(sa.Column("reason", sa.Text()))
        batch.add_column(sa.Column("changes", sa.Text()))
        batch.add_column(sa.Column("impact", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_column("impact")
        batch.drop_column("changes")
        batch.drop_column("reason")
        batch.drop_column("published_by")
