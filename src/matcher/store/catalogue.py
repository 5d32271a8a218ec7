"""The catalogue's persistence: opportunities, and the sequence number derived state watches.

Every write to the catalogue bumps ``catalogue_state.seq`` in the same transaction, so that
derived state (the vector index, the filter arrays) knows cheaply whether it is behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.sql.elements import ColumnElement

from matcher.clock import utcnow
from matcher.domain import Listing, Opportunity, OpportunityQuery, territory_key
from matcher.errors import AlreadyExists, NotFound
from matcher.store.database import Database
from matcher.store.schema import CatalogueState, OpportunityRow

SaveOutcome = Literal["inserted", "updated", "unchanged"]


class StoredOffer(NamedTuple):
    """An opportunity with its row id (its place in the index) and when it was first stored."""

    row_id: int
    opportunity: Opportunity
    created_at: datetime


def text_hash(opportunity: Opportunity) -> str:
    """Hash of the text an opportunity is embedded from: it tells when to re-embed."""
    return hashlib.sha256("\n".join(opportunity.document()).encode("utf-8")).hexdigest()


def opportunity_columns(opportunity: Opportunity) -> dict[str, Any]:
    """The row's columns for one opportunity: the filterable attributes beside the payload."""
    loc = opportunity.location
    return {
        "kind": opportunity.kind,
        "status": opportunity.status,
        "territory": opportunity.territory,
        "territory_key": territory_key(opportunity.territory),
        "sector": opportunity.sector_family,
        "department": loc.department,
        "lat": loc.lat,
        "lon": loc.lon,
        "price_eur": opportunity.price_eur,
        "housing": opportunity.housing,
        "remote_friendly": opportunity.remote_friendly,
        "available_from": opportunity.available_from,
        "expires_on": opportunity.expires_on,
        "payload": opportunity.model_dump(mode="json", exclude_none=True),
        "text_hash": text_hash(opportunity),
    }


def draft_row(opportunity: Opportunity) -> OpportunityRow:
    """An unsaved row for ``opportunity``, to run filters on a record not (yet) stored."""
    return OpportunityRow(
        id=opportunity.id, row_id=0, updated_at=utcnow(), **opportunity_columns(opportunity)
    )


def _bump_seq(session: Session) -> int:
    session.execute(update(CatalogueState).where(CatalogueState.key == 1).values(seq=CatalogueState.seq + 1))
    return session.scalar(select(CatalogueState.seq).where(CatalogueState.key == 1)) or 0


class CatalogueStore:
    """Opportunities: upsert by id, read, list, and the change feed the index follows."""

    def __init__(self, database: Database):
        self.database = database

    def seq(self) -> int:
        with self.database.reading() as session:
            return session.scalar(select(CatalogueState.seq).where(CatalogueState.key == 1)) or 0

    def save(self, session: Session, opportunity: Opportunity, now: datetime | None = None) -> SaveOutcome:
        """Insert or update one opportunity inside ``session``."""
        now = now or utcnow()
        columns = opportunity_columns(opportunity)
        row = session.scalar(select(OpportunityRow).where(OpportunityRow.id == opportunity.id))
        if row is not None and row.payload == columns["payload"]:
            return "unchanged"
        seq = _bump_seq(session)
        if row is None:
            session.add(OpportunityRow(id=opportunity.id, seq=seq, created_at=now, updated_at=now, **columns))
            session.flush()
            return "inserted"
        for name, value in columns.items():
            setattr(row, name, value)
        row.seq, row.updated_at = seq, now
        session.flush()
        return "updated"

    def put(self, opportunity: Opportunity, *, create: bool = False) -> SaveOutcome:
        """Store one opportunity in its own transaction; with ``create``, an existing id is a
        conflict and nothing is written."""
        with self.database.session() as session:
            outcome = self.save(session, opportunity)
            if create and outcome != "inserted":
                raise AlreadyExists(
                    f"l'opportunité {opportunity.id} existe déjà ; modifiez-la par PUT ou PATCH "
                    f"/v1/opportunities/{opportunity.id}"
                )
        return outcome

    def bulk_insert(self, opportunities: list[Opportunity], now: datetime | None = None) -> None:
        """Insert many new opportunities in one statement (synthetic catalogues, benchmarks)."""
        now = now or utcnow()
        with self.database.session() as session:
            seq = _bump_seq(session)
            rows = [
                {"id": o.id, "seq": seq, "created_at": now, "updated_at": now, **opportunity_columns(o)}
                for o in opportunities
            ]
            if rows:
                session.execute(insert(OpportunityRow), rows)

    def find(self, opportunity_id: str) -> Opportunity | None:
        """The stored opportunity, or None."""
        with self.database.reading() as session:
            payload = session.scalar(
                select(OpportunityRow.payload).where(OpportunityRow.id == opportunity_id)
            )
            return None if payload is None else Opportunity.from_stored(payload)

    def get(self, opportunity_id: str) -> Opportunity:
        """The stored opportunity; NotFound for an unknown id."""
        found = self.find(opportunity_id)
        if found is None:
            raise NotFound(f"opportunité inconnue : {opportunity_id}")
        return found

    def by_row_id(self, row_ids: list[int]) -> dict[int, Opportunity]:
        with self.database.reading() as session:
            rows = session.execute(
                select(OpportunityRow.row_id, OpportunityRow.payload).where(
                    OpportunityRow.row_id.in_(row_ids)
                )
            )
            return {row_id: Opportunity.from_stored(payload) for row_id, payload in rows}

    def page(self, query: OpportunityQuery = OpportunityQuery()) -> tuple[int, list[Opportunity]]:
        """(total matching, one page) of opportunities, in id order."""
        conditions = [
            column == value
            for column, value in (
                (OpportunityRow.kind, query.kind),
                (OpportunityRow.department, query.department),
                (
                    OpportunityRow.territory_key,
                    None if query.territory is None else territory_key(query.territory),
                ),
                (OpportunityRow.status, query.status),
            )
            if value is not None
        ]
        with self.database.reading() as session:
            total = session.scalar(select(func.count()).select_from(OpportunityRow).where(*conditions))
            stmt = select(OpportunityRow.payload).where(*conditions).order_by(OpportunityRow.id)
            page = session.scalars(stmt.offset(query.offset).limit(query.limit))
            return total or 0, [Opportunity.from_stored(p) for p in page]

    def listings(self, territories: Collection[str] | None = None) -> list[Listing]:
        """Every stored offer of ``territories`` (all of them for None), archived included,
        with its publication and last change, most recently changed first."""
        query = select(OpportunityRow.payload, OpportunityRow.created_at, OpportunityRow.updated_at)
        if territories is not None:
            query = query.where(OpportunityRow.territory_key.in_([territory_key(t) for t in territories]))
        with self.database.reading() as session:
            rows = session.execute(query.order_by(OpportunityRow.updated_at.desc(), OpportunityRow.id))
            return [Listing(Opportunity.from_stored(p), created, updated) for p, created, updated in rows]

    def count(self) -> int:
        with self.database.reading() as session:
            return session.scalar(select(func.count()).select_from(OpportunityRow)) or 0

    def changed_since(self, since_seq: int = 0) -> list[OpportunityRow]:
        """Rows changed after ``since_seq`` (all rows for 0), without loading their payload."""
        return self._rows(OpportunityRow.seq > since_seq)

    def rows_by_id(self, opportunity_ids: list[str]) -> list[OpportunityRow]:
        """The rows of these opportunity ids (unknown ones left out), without their payload."""
        return self._rows(OpportunityRow.id.in_(opportunity_ids))

    def rows_by_row_id(self, row_ids: list[int]) -> list[OpportunityRow]:
        """The rows of these row ids, without their payload."""
        return self._rows(OpportunityRow.row_id.in_(row_ids))

    def _rows(self, condition: Any) -> list[OpportunityRow]:
        with self.database.reading() as session:
            stmt = (
                select(OpportunityRow)
                .options(defer(OpportunityRow.payload))
                .where(condition)
                .order_by(OpportunityRow.row_id)
            )
            return list(session.scalars(stmt))

    def published_between(self, since: datetime, clock: datetime) -> dict[str, Opportunity]:
        """Published opportunities created or changed in ``(since, clock]``, by id."""
        with self.database.reading() as session:
            rows = session.execute(
                select(OpportunityRow.id, OpportunityRow.payload).where(
                    OpportunityRow.status == "published",
                    OpportunityRow.updated_at > since,
                    OpportunityRow.updated_at <= clock,
                )
            )
            return {opportunity_id: Opportunity.from_stored(payload) for opportunity_id, payload in rows}

    def live(
        self, today: date, territory: str | None = None, department: str | None = None
    ) -> list[StoredOffer]:
        """Published opportunities not expired on ``today``, in row order; with ``territory`` or
        ``department``, those of the territory (as names compare) or in the department."""
        place: list[ColumnElement[bool]] = []
        if territory is not None:
            place.append(OpportunityRow.territory_key == territory_key(territory))
        if department is not None:
            place.append(OpportunityRow.department == department)
        with self.database.session() as session:
            rows = session.execute(
                select(OpportunityRow.row_id, OpportunityRow.payload, OpportunityRow.created_at)
                .where(
                    OpportunityRow.status == "published",
                    or_(OpportunityRow.expires_on.is_(None), OpportunityRow.expires_on >= today),
                    *([or_(*place)] if place else []),
                )
                .order_by(OpportunityRow.row_id)
            )
            return [StoredOffer(r, Opportunity.from_stored(p), c) for r, p, c in rows]
