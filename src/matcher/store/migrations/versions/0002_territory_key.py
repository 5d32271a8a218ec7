"""Listings by territory compare names without case or extra spaces: a ``territory_key`` column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.domain import territory_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.add_column(sa.Column("territory_key", sa.String(200), nullable=True))
    opportunities = sa.table(
        "opportunities",
        sa.column("row_id", sa.Integer),
        sa.column("territory", sa.String),
        sa.column("territory_key", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(opportunities.c.row_id, opportunities.c.territory)).all()
    for row_id, territory in rows:
        connection.execute(
            opportunities.update()
            .where(opportunities.c.row_id == row_id)
            .values(territory_key=territory_key(territory))
        )
    with op.batch_alter_table("opportunities") as batch:
        batch.alter_column("territory_key", existing_type=sa.String(200), nullable=False)
        batch.create_index("ix_opportunities_territory_key", ["territory_key"])


def downgrade() -> None:
    with op.batch_alter_table("opportunities") as batch:
        batch.drop_index("ix_opportunities_territory_key")
        batch.drop_column("territory_key")
