"""Records carry what matcher reads in their labels (sector family, trade): read stored ones.

Stored offers and profiles of earlier releases carry sector codes and no trade; they are read
again with this release's vocabulary and written back (the embedded text does not change, so
nothing is re-embedded). Nothing a person wrote is changed: only the computed fields are added.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.domain import HolderProfile, Opportunity

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    opportunities = sa.table(
        "opportunities",
        sa.column("row_id", sa.Integer),
        sa.column("payload", sa.JSON),
        sa.column("sector", sa.String),
    )
    for row_id, payload in connection.execute(
        sa.select(opportunities.c.row_id, opportunities.c.payload)
    ).all():
        read = Opportunity.model_validate(payload)
        connection.execute(
            opportunities.update()
            .where(opportunities.c.row_id == row_id)
            .values(payload=read.model_dump(mode="json", exclude_none=True), sector=read.sector_family)
        )
    holders = sa.table("holders", sa.column("id", sa.String), sa.column("payload", sa.JSON))
    for holder_id, payload in connection.execute(sa.select(holders.c.id, holders.c.payload)).all():
        profile = HolderProfile.model_validate(payload)
        connection.execute(
            holders.update()
            .where(holders.c.id == holder_id)
            .values(payload=profile.model_dump(mode="json", exclude_none=True))
        )


def downgrade() -> None:
    """The computed fields stay: earlier releases refuse them, so a downgrade is a restore."""
    raise NotImplementedError("restore the database saved before upgrading")
