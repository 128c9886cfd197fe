"""Information sharing between registries (issue #16 part 1): ``peers`` (other registries and
their Ed25519 keys), ``agreements`` (versioned texts saying which codes flow each way, for
organisations and for persons), ``exchanges`` (every delta file made for or imported from a
peer, with its cursor range and digest: the continuity an import checks), and the provenance
of an imported ledger entry — the registry that first recorded it, its seq and recorded time
there, and the peer that delivered it — chained in the v4 encoding (registry.chain).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("origin_registry", sa.String(100)))
        batch.add_column(sa.Column("origin_seq", sa.BigInteger))
        batch.add_column(sa.Column("origin_recorded_us", sa.BigInteger))
        batch.add_column(sa.Column("via_peer", sa.String(100)))
    op.create_table(
        "peers",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("added_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peers")),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("agreement_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("peer", sa.String(100), nullable=False),
        sa.Column("published_us", sa.BigInteger, nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["peer"], ["peers.id"], name=op.f("fk_agreements_peer_peers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.UniqueConstraint(
            "agreement_id", "version", name=op.f("uq_agreements_agreement_id_version")
        ),
    )
    op.create_table(
        "exchanges",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("peer", sa.String(100), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
        sa.Column("until", sa.BigInteger, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("batch_id", sa.Integer),
        sa.ForeignKeyConstraint(["peer"], ["peers.id"], name=op.f("fk_exchanges_peer_peers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
    )
    op.create_index("ix_exchanges_peer_direction", "exchanges", ["peer", "direction"])


def downgrade() -> None:
    op.drop_index("ix_exchanges_peer_direction", "exchanges")
    op.drop_table("exchanges")
    op.drop_table("agreements")
    op.drop_table("peers")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("via_peer")
        batch.drop_column("origin_recorded_us")
        batch.drop_column("origin_seq")
        batch.drop_column("origin_registry")
