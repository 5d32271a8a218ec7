"""The store: a database made by an earlier version is brought up to date, data kept."""

from __future__ import annotations

import sqlite3

from matcher.domain import HolderProfile
from matcher.store import Store


def test_a_missing_nullable_column_is_added_in_place(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    with store.session() as session:
        store.save_holder(session, HolderProfile(id="h-1", project="Reprendre une boulangerie"))
    store.close()
    with sqlite3.connect(tmp_path / "old.db") as connection:  # as an earlier version left it
        connection.execute("ALTER TABLE holders DROP COLUMN unsubscribed_at")

    reopened = Store(url)
    assert reopened.holder("h-1").project == "Reprendre une boulangerie"
    with sqlite3.connect(tmp_path / "old.db") as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(holders)")]
    assert "unsubscribed_at" in columns
    reopened.close()
