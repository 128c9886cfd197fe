"""Reports issued to subjects, counted against the free allowance per year; and room in the
ledger's event column for the objection events (``objection_rejected`` has 18 characters).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":  # SQLite does not enforce VARCHAR lengths
        op.alter_column(
            "ledger", "event", type_=sa.String(length=32), existing_type=sa.String(length=16)
        )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("issued_us", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index("ix_reports_subject_id_year", "reports", ["subject_id", "year"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "ledger", "event", type_=sa.String(length=16), existing_type=sa.String(length=32)
        )
    op.drop_index("ix_reports_subject_id_year", table_name="reports")
    op.drop_table("reports")
