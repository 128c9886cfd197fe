"""Notices to subjects: the outbox.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scheme_id", sa.String(length=100), nullable=True),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_us", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index("ix_notices_subject_id", "notices", ["subject_id"], unique=False)
    op.create_index("ix_notices_sent_us", "notices", ["sent_us"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notices_sent_us", table_name="notices")
    op.drop_index("ix_notices_subject_id", table_name="notices")
    op.drop_table("notices")
