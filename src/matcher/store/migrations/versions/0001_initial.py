"""The schema of release 0.1.0, and the adoption of databases made before Alembic.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[Any]]]:
    return [
        (
            "opportunities",
            [
                sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("id", sa.String(64), nullable=False, unique=True),
                sa.Column("kind", sa.String(16), nullable=False),
                sa.Column("status", sa.String(16), nullable=False),
                sa.Column("territory", sa.String(200), nullable=False, index=True),
                sa.Column("sector", sa.String(32)),
                sa.Column("department", sa.String(3), nullable=False),
                sa.Column("lat", sa.Float, nullable=False),
                sa.Column("lon", sa.Float, nullable=False),
                sa.Column("price_eur", sa.Float),
                sa.Column("housing", sa.Boolean, nullable=False),
                sa.Column("remote_friendly", sa.Boolean, nullable=False),
                sa.Column("available_from", sa.Date),
                sa.Column("expires_on", sa.Date),
                sa.Column("payload", sa.JSON, nullable=False),
                sa.Column("text_hash", sa.String(64), nullable=False),
                sa.Column("seq", sa.Integer, nullable=False, index=True),
                sa.Column("created_at", UTC_DATETIME, nullable=False),
                sa.Column("updated_at", UTC_DATETIME, nullable=False, index=True),
                sa.Index("ix_opportunities_kind_status", "kind", "status"),
            ],
        ),
        (
            "holders",
            [
                sa.Column("id", sa.String(64), primary_key=True),
                sa.Column("payload", sa.JSON, nullable=False),
                sa.Column("digest_opt_in", sa.Boolean, nullable=False, index=True),
                sa.Column("share_with_territories", sa.Boolean, nullable=False),
                sa.Column("unsubscribed_at", UTC_DATETIME),
                sa.Column("created_at", UTC_DATETIME, nullable=False),
                sa.Column("updated_at", UTC_DATETIME, nullable=False),
            ],
        ),
        (
            "feedback",
            [
                sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column(
                    "holder_id",
                    sa.String(64),
                    sa.ForeignKey("holders.id", ondelete="CASCADE"),
                    nullable=False,
                    index=True,
                ),
                sa.Column("opportunity_id", sa.String(64), nullable=False),
                sa.Column("verdict", sa.String(16), nullable=False),
                sa.Column("created_at", UTC_DATETIME, nullable=False),
            ],
        ),
        (
            "users",
            [
                sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("name", sa.String(100), nullable=False, unique=True),
                sa.Column("role", sa.String(16), nullable=False),
                sa.Column("territories", sa.JSON, nullable=False),
                sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
                sa.Column("created_at", UTC_DATETIME, nullable=False),
                sa.Column("revoked_at", UTC_DATETIME),
            ],
        ),
        (
            "digest_runs",
            [
                sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("clock", UTC_DATETIME, nullable=False),
                sa.Column("started_at", UTC_DATETIME, nullable=False),
                sa.Column("finished_at", UTC_DATETIME),
                sa.Column("dry_run", sa.Boolean, nullable=False),
                sa.Column("holders_considered", sa.Integer, nullable=False),
                sa.Column("emails_sent", sa.Integer, nullable=False),
                sa.Column("skipped", sa.Integer, nullable=False),
                sa.Column("failed", sa.Integer, nullable=False),
                sa.Column("status", sa.String(16), nullable=False),
            ],
        ),
        (
            "sends",
            [
                sa.Column("send_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column(
                    "holder_id",
                    sa.String(64),
                    sa.ForeignKey("holders.id", ondelete="CASCADE"),
                    nullable=False,
                    index=True,
                ),
                sa.Column("opportunity_id", sa.String(64), nullable=False),
                sa.Column("run_id", sa.Integer, sa.ForeignKey("digest_runs.run_id"), nullable=False),
                sa.Column("clock", UTC_DATETIME, nullable=False),
                sa.Column("sent_at", UTC_DATETIME, nullable=False),
                sa.Column("message_id", sa.String(255), nullable=False),
            ],
        ),
        (
            "catalogue_state",
            [
                sa.Column("key", sa.Integer, primary_key=True),
                sa.Column("seq", sa.Integer, nullable=False),
            ],
        ),
        (
            "communes",
            [
                sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("insee", sa.String(5), nullable=False, index=True),
                sa.Column("type", sa.String(4)),
                sa.Column("name", sa.String(200), nullable=False),
                sa.Column("name_article", sa.String(200)),
                sa.Column("postcode", sa.String(5)),
                sa.Column("department", sa.String(3), nullable=False),
                sa.Column("lat", sa.Float, nullable=False),
                sa.Column("lon", sa.Float, nullable=False),
                sa.Column("population", sa.Integer, nullable=False),
            ],
        ),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns in _tables():
        if name not in existing:
            op.create_table(name, *columns)
            continue
        # A database made before Alembic owned the schema: it may lack columns that earlier
        # versions added in place, all of them nullable.
        present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(name)}
        for column in columns:
            if isinstance(column, sa.Column) and column.name not in present:
                with op.batch_alter_table(name) as batch:
                    batch.add_column(column)
    op.execute(
        sa.text(
            "INSERT INTO catalogue_state (key, seq) "
            "SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM catalogue_state)"
        )
    )


def downgrade() -> None:
    for name, _ in reversed(_tables()):
        op.drop_table(name)
