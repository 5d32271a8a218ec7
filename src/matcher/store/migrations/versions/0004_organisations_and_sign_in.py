"""Caseloads and sign-in: holders belong to an organisation, accounts sign in to the pages.

- ``holders.organisation_key``: the organisation the profile names (``counsellor.organisation``),
  else the default organisation « Sans organisation » (``matcher.domain.DEFAULT_ORGANISATION``);
  ``holders.last_matched_at``.
- ``users``: ``email``, ``password_hash``, ``organisation``, ``failed_sign_ins``,
  ``locked_until``. Counsellors' accounts created before organisations existed are put in the
  default organisation, so that they keep seeing the holders that name none.
- ``feedback.comment``; new tables ``web_sessions`` and ``widenings``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from matcher.domain import DEFAULT_ORGANISATION, organisation_key
from matcher.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("holders") as batch:
        batch.add_column(sa.Column("organisation_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("last_matched_at", UTCDateTime(), nullable=True))
    holders = sa.table(
        "holders",
        sa.column("id", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("organisation_key", sa.String),
    )
    connection = op.get_bind()
    for holder_id, payload in connection.execute(sa.select(holders.c.id, holders.c.payload)).all():
        named = (payload.get("counsellor") or {}).get("organisation")
        connection.execute(
            holders.update()
            .where(holders.c.id == holder_id)
            .values(organisation_key=organisation_key(named or DEFAULT_ORGANISATION))
        )
    with op.batch_alter_table("holders") as batch:
        batch.alter_column("organisation_key", existing_type=sa.String(200), nullable=False)
        batch.create_index("ix_holders_organisation_key", ["organisation_key"])

    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
        batch.add_column(sa.Column("organisation", sa.String(200), nullable=True))
        batch.add_column(sa.Column("failed_sign_ins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", UTCDateTime(), nullable=True))
        batch.create_unique_constraint("uq_users_email", ["email"])
    users = sa.table("users", sa.column("role", sa.String), sa.column("organisation", sa.String))
    connection.execute(
        users.update().where(users.c.role == "counsellor").values(organisation=DEFAULT_ORGANISATION)
    )

    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("comment", sa.String(500), nullable=True))

    op.create_table(
        "web_sessions",
        sa.Column("session_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "widenings",
        sa.Column("widening_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "holder_id", sa.String(64), sa.ForeignKey("holders.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("constraint", sa.String(32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_widenings_holder_id", "widenings", ["holder_id"])


def downgrade() -> None:
    op.drop_index("ix_widenings_holder_id", "widenings")
    op.drop_table("widenings")
    op.drop_index("ix_web_sessions_user_id", "web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("comment")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_email", type_="unique")
        for column in ("locked_until", "failed_sign_ins", "organisation", "password_hash", "email"):
            batch.drop_column(column)
    with op.batch_alter_table("holders") as batch:
        batch.drop_index("ix_holders_organisation_key")
        batch.drop_column("last_matched_at")
        batch.drop_column("organisation_key")
