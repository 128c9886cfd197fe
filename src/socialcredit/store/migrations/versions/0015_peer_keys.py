"""Peer keys (issue #16): a credential of role ``peer`` is bound to a registered peer
(``credentials.peer_id``) and pulls that peer's exchange feed (``GET /v1/exchange/feed``).
A credential without one keeps the admin-log state it had (registry.adminlog).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("peer_id", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("peer_id")
