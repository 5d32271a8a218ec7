"""What officers learn about their offers' reach: impressions counted per offer, day and
channel (never who saw them), and the contacts they proposed through holders' counsellors."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from matcher.clock import utcnow
from matcher.store.database import Database, in_chunks
from matcher.store.schema import ContactProposalRow, ImpressionRow


class OutreachStore:
    """Impression counts and contact proposals."""

    def __init__(self, database: Database):
        self.database = database

    def count_impressions(self, opportunity_ids: Iterable[str], channel: str, day: date) -> None:
        """Add one impression on ``day`` through ``channel`` to each offer (repeats count)."""
        counts = Counter(opportunity_ids)
        if not counts:
            return
        rows = [{"opportunity_id": i, "day": day, "channel": channel, "count": n} for i, n in counts.items()]
        dialect = self.database.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(ImpressionRow)
        statement = statement.on_conflict_do_update(
            index_elements=["opportunity_id", "day", "channel"],
            set_={"count": ImpressionRow.count + statement.excluded.count},
        )
        with self.database.session() as session:
            session.execute(statement, rows)

    def impressions(self, opportunity_ids: Collection[str], since: date) -> dict[str, dict[str, int]]:
        """Impressions from ``since`` on, by offer then channel (offers never shown absent)."""
        totals: dict[str, dict[str, int]] = defaultdict(dict)
        ids = list(opportunity_ids)
        with self.database.reading() as session:
            for chunk in in_chunks(ids):
                query = (
                    select(ImpressionRow.opportunity_id, ImpressionRow.channel, func.sum(ImpressionRow.count))
                    .where(ImpressionRow.opportunity_id.in_(chunk), ImpressionRow.day >= since)
                    .group_by(ImpressionRow.opportunity_id, ImpressionRow.channel)
                )
                for opportunity_id, channel, total in session.execute(query):
                    totals[opportunity_id][channel] = int(total)
        return dict(totals)

    def propose(self, opportunity_id: str, holder_id: str, proposed_by: str) -> bool:
        """Note a proposed contact; False if one was already proposed for this holder and offer
        (two clicks at once included: the unique key decides)."""
        row = {
            "opportunity_id": opportunity_id,
            "holder_id": holder_id,
            "proposed_by": proposed_by,
            "created_at": utcnow(),
        }
        dialect = self.database.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(ContactProposalRow)
            .values(row)
            .on_conflict_do_nothing(index_elements=["opportunity_id", "holder_id"])
        )
        with self.database.session() as session:
            return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def withdraw(self, opportunity_id: str, holder_id: str) -> None:
        with self.database.session() as session:
            session.execute(
                delete(ContactProposalRow).where(
                    ContactProposalRow.opportunity_id == opportunity_id,
                    ContactProposalRow.holder_id == holder_id,
                )
            )

    def proposals(self, opportunity_id: str, holder_ids: Collection[str]) -> dict[str, datetime]:
        """When a contact was proposed for each of ``holder_ids`` about one offer."""
        with self.database.reading() as session:
            return self._proposed(session, opportunity_id, list(holder_ids))

    @staticmethod
    def _proposed(session: Session, opportunity_id: str, holder_ids: list[str]) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for chunk in in_chunks(holder_ids):
            query = select(ContactProposalRow.holder_id, ContactProposalRow.created_at).where(
                ContactProposalRow.opportunity_id == opportunity_id,
                ContactProposalRow.holder_id.in_(chunk),
            )
            found.update({holder_id: created for holder_id, created in session.execute(query)})
        return found
