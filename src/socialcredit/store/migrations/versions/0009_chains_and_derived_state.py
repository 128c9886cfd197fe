"""Anchored chains with the v2 encoding, the admin log, and derived state with its own counter.

- ``chain_heads``: each chain's head as of now (so that cutting the tail off is detected from
  here on) and its first v2 entry (every later entry); entries before it stay v1 and verify.
- ``admin_log``: the chained log of security- and law-relevant writes (the state before this
  migration is adopted into it by `socialcredit init`, as "baseline" entries).
- ``standing_lists``: each held list with its dates, for public lists; filled when the current
  standings are rebuilt, which `init` does next (``current_builds`` is emptied for that).
- ``generation`` row 2: the derived state's change counter; ``upkeep_lease``; and
  ``current_builds.ledger_seq``.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _head(connection: sa.Connection, table: str) -> tuple[int, str]:
    row = connection.execute(
        sa.text(f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1")
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def upgrade() -> None:
    connection = op.get_bind()
    key = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    exact = sa.String(18).with_variant(sa.String(18, collation="C"), "postgresql")
    op.create_table(
        "standing_lists",
        sa.Column("scheme_id", sa.String(length=100), nullable=False),
        sa.Column("list_id", sa.String(length=100), nullable=False),
        sa.Column("identifier", exact, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.Date()),
        sa.Column("until", sa.Date()),
        sa.PrimaryKeyConstraint(
            "scheme_id", "list_id", "identifier", name=op.f("pk_standing_lists")
        ),
    )
    op.create_index("ix_standing_lists_subject_id", "standing_lists", ["subject_id"])
    heads = op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("v2_from", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_heads")),
    )
    rows = []
    for chain in ("ledger", "audit_log"):
        seq, hash_ = _head(connection, chain)
        rows.append({"chain": chain, "seq": seq, "hash": hash_, "v2_from": seq + 1})
    rows.append({"chain": "admin_log", "seq": 0, "hash": GENESIS, "v2_from": 1})
    op.bulk_insert(heads, rows)
    op.create_table(
        "admin_log",
        sa.Column("seq", key, autoincrement=False, nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_admin_log")),
    )
    op.create_index("ix_admin_log_object", "admin_log", ["object"])
    lease = op.create_table(
        "upkeep_lease",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.Text()),
        sa.Column("until_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upkeep_lease")),
    )
    op.bulk_insert(lease, [{"id": 1, "holder": None, "until_us": 0}])
    connection.execute(sa.text("INSERT INTO generation (id, value) VALUES (2, 0)"))
    op.create_index(
        "ix_batches_pending",
        "batches",
        ["id"],
        sqlite_where=sa.text("NOT standings_done"),
        postgresql_where=sa.text("NOT standings_done"),
    )
    with op.batch_alter_table("current_builds") as batch:
        batch.add_column(sa.Column("ledger_seq", sa.BigInteger()))
    # Rebuild every scheme's current standings (with their list dates) at the next `init`.
    connection.execute(sa.text("DELETE FROM current_builds"))


def downgrade() -> None:
    with op.batch_alter_table("current_builds") as batch:
        batch.drop_column("ledger_seq")
    op.drop_index("ix_batches_pending", table_name="batches")
    op.execute("DELETE FROM generation WHERE id = 2")
    op.drop_table("upkeep_lease")
    op.drop_index("ix_admin_log_object", table_name="admin_log")
    op.drop_table("admin_log")
    op.drop_table("chain_heads")
    op.drop_index("ix_standing_lists_subject_id", table_name="standing_lists")
    op.drop_table("standing_lists")
