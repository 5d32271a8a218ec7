"""Stored holders' vectors, keyed by the hash of the text they were embedded from and the
encoder's identity, so that a known holder's match never encodes their project again; and a
sequence number every write of a holder or of their vector moves and stamps on the rows it
wrote, so that the holder index tells in one look-up whether anything changed, and reads what.

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
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_holder_vectors_seq", "holder_vectors", ["seq"])
    with op.batch_alter_table("holders") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_holders_seq", "holders", ["seq"])
    # Who marked one offer not relevant, read for each offer's candidates.
    op.create_index("ix_feedback_opportunity_id", "feedback", ["opportunity_id"])
    op.create_table(
        "holder_state",
        sa.Column("key", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO holder_state (key, seq) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_index("ix_feedback_opportunity_id", "feedback")
    op.drop_table("holder_state")
    op.drop_index("ix_holders_seq", "holders")
    with op.batch_alter_table("holders") as batch:
        batch.drop_column("seq")
    op.drop_index("ix_holder_vectors_seq", "holder_vectors")
    op.drop_table("holder_vectors")
