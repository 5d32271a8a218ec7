"""Officers' outreach: how often each offer was shown (counts per day, never who), and the
contacts proposed through a holder's counsellor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offer_impressions",
        sa.Column("opportunity_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "contact_proposals",
        sa.Column("proposal_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column(
            "holder_id", sa.String(64), sa.ForeignKey("holders.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("proposed_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("opportunity_id", "holder_id", name="uq_contact_proposals_offer_holder"),
    )
    op.create_index("ix_contact_proposals_holder_id", "contact_proposals", ["holder_id"])


def downgrade() -> None:
    op.drop_index("ix_contact_proposals_holder_id", "contact_proposals")
    op.drop_table("contact_proposals")
    op.drop_table("offer_impressions")
