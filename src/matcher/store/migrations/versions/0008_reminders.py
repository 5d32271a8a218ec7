"""The reminders' ledger: what each officer was reminded of, once per offer, reason and period.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("reminder_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("users.user_id"), nullable=False),
        sa.Column("opportunity_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("clock", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.UniqueConstraint("account_id", "opportunity_id", "reason", "period"),
    )
    op.create_index("ix_reminders_account_id", "reminders", ["account_id"])
    op.create_index("ix_reminders_opportunity_id", "reminders", ["opportunity_id"])


def downgrade() -> None:
    op.drop_index("ix_reminders_opportunity_id", "reminders")
    op.drop_index("ix_reminders_account_id", "reminders")
    op.drop_table("reminders")
