"""Retention that erases (issue #15). Each ledger entry from now on is chained over a salted
digest of its personal content (``personal``: SHA-256 over ``salt`` and the record id, the
subject's identifier, name and region, and the amount) instead of that content itself: the
v3 encoding (registry.chain), from ``chain_heads.v3_from``. Erasing an entry blanks the
content and its salt and keeps the digest, so the chain still verifies. ``erasures`` lists the
erased records (registry.retention) by a digest of their key, so that the same record is not
furnished again. A record's decision day, when the furnisher gives it (``decided_on``: its
publication window starts there; chained in v3). When the subject was told a review or a
correction is late (registry.cases.tell_lapses, like objections and repairs since 0012).

Entries written before this migration keep the v2 encoding, which covers the content itself;
``erasure run`` erases them under a seal that their ``erased`` event records (registry.chain).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("salt", sa.String(64)))
        batch.add_column(sa.Column("personal", sa.String(64)))
        batch.add_column(sa.Column("decided_on", sa.Date))
    with op.batch_alter_table("chain_heads") as batch:
        batch.add_column(sa.Column("v3_from", sa.BigInteger))
    op.execute("UPDATE chain_heads SET v3_from = seq + 1")
    with op.batch_alter_table("chain_heads") as batch:
        batch.alter_column("v3_from", existing_type=sa.BigInteger(), nullable=False)
    for table in ("reviews", "corrections"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lapse_told_us", sa.BigInteger))
    op.create_table(
        "erasures",
        sa.Column(
            "record_seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("furnisher", sa.String(100), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False),
        sa.Column("erased_on", sa.Date, nullable=False),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("erased_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_erasures_key_digest", "erasures", ["key_digest"])


def downgrade() -> None:
    op.drop_index("ix_erasures_key_digest", "erasures")
    op.drop_table("erasures")
    for table in ("reviews", "corrections"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lapse_told_us")
    with op.batch_alter_table("chain_heads") as batch:
        batch.drop_column("v3_from")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("decided_on")
        batch.drop_column("personal")
        batch.drop_column("salt")
