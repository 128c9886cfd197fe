"""Deadlines that bind (issue #15). When the subject was told that an objection lapsed or a
repair decision is late: each is told once (registry.due_process.tell_lapses, run by
``refresh``); cases filed before have none and are told on the next refresh if they are late.
A repair application's file found complete (the day, by whom) and the decision then due. The
record a review found wrong, and the furnisher's correction task (registry.corrections).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("objections", "repairs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lapse_told_us", sa.BigInteger))
    with op.batch_alter_table("repairs") as batch:
        batch.add_column(sa.Column("complete_on", sa.Date))
        batch.add_column(sa.Column("completed_by", sa.Text))
        batch.add_column(sa.Column("decision_due", sa.Date))
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("record_seq", sa.BigInteger))
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("review_id", sa.Integer, nullable=False),
        sa.Column("subject_id", sa.BigInteger, nullable=False),
        sa.Column("record_seq", sa.BigInteger, nullable=False),
        sa.Column("furnisher", sa.String(100), nullable=False),
        sa.Column("requested_us", sa.BigInteger, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("replacement_seq", sa.BigInteger),
        sa.Column("completed_by", sa.Text),
        sa.Column("completed_us", sa.BigInteger),
    )
    op.create_index("ix_corrections_furnisher", "corrections", ["furnisher"])


def downgrade() -> None:
    op.drop_index("ix_corrections_furnisher", "corrections")
    op.drop_table("corrections")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("record_seq")
    with op.batch_alter_table("repairs") as batch:
        for column in ("decision_due", "completed_by", "complete_on"):
            batch.drop_column(column)
    for table in ("objections", "repairs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lapse_told_us")
