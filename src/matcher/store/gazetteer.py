"""The communes table's persistence (loaded by ``matcher geo load``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select

from matcher.store.database import Database
from matcher.store.schema import CommuneRow


class GazetteerStore:
    """Replace and read the communes table."""

    def __init__(self, database: Database):
        self.database = database

    def replace(self, records: list[dict[str, Any]]) -> int:
        with self.database.session() as session:
            session.execute(delete(CommuneRow))
            session.execute(insert(CommuneRow), records)
        return len(records)

    def communes(self) -> list[dict[str, Any]]:
        with self.database.reading() as session:
            columns = [c for c in CommuneRow.__table__.columns if c.name != "row_id"]
            return [dict(r._mapping) for r in session.execute(select(*columns))]

    def count(self) -> int:
        with self.database.reading() as session:
            return session.scalar(select(func.count()).select_from(CommuneRow)) or 0
