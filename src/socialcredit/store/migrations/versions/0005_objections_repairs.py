"""Objections and credit-repair applications.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _decided() -> list[sa.Column[object]]:
    return [
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_us", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("record_seq", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filed_us", sa.BigInteger(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        *_decided(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    op.create_index("ix_objections_subject_id", "objections", ["subject_id"], unique=False)
    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("record_seq", sa.BigInteger(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("commitment", sa.Boolean(), nullable=False),
        sa.Column("applied_us", sa.BigInteger(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        *_decided(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
    )
    op.create_index("ix_repairs_subject_id", "repairs", ["subject_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_repairs_subject_id", table_name="repairs")
    op.drop_table("repairs")
    op.drop_index("ix_objections_subject_id", table_name="objections")
    op.drop_table("objections")
