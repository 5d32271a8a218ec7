"""Stored holders' vectors, keyed by the hash of the text they were embedded from and the
encoder's identity, so that a known holder's match never encodes their project again; holders
indexed by their last change, for a cheap check of whether any changed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.store.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holder_vectors",
        sa.Column(
            "holder_key", sa.String(64), sa.ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("encoder", sa.String(300), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_holder_vectors_updated_at", "holder_vectors", ["updated_at"])
    op.create_index("ix_holders_updated_at", "holders", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_holders_updated_at", "holders")
    op.drop_index("ix_holder_vectors_updated_at", "holder_vectors")
    op.drop_table("holder_vectors")
