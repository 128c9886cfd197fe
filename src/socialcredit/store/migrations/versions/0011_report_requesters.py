"""Who asked for a report: the requester's role, so that only the subject's own requests count
against the free reports of the year (reports an operator issues cost the subject nothing).
Reports issued before have no role and count, as they did.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("role", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("role")
