"""Alembic's environment: revisions run on the connection ``matcher.store.database.migrate`` opens."""

from __future__ import annotations

from alembic import context

from matcher.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
