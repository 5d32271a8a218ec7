"""The send ledger's rows are « pending » while their e-mail is with the mail server, « sent »
once it accepted it (rows written before this revision were all accepted).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="sent"))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("state")
