"""Persistence through SQLAlchemy: the source of truth for the catalogue, holders and history.

SQLite in ``MATCHER_HOME`` by default; nothing here is SQLite-only, so a PostgreSQL URL works.
Every write to the catalogue bumps ``catalogue_state.seq`` in the same transaction, so that
derived state (the vector index, the filter arrays) knows cheaply whether it is behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, defer, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from matcher.domain import HolderProfile, Opportunity
from matcher.errors import MatcherError, NotFound


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, whatever the database keeps (SQLite keeps no zone, and
    would otherwise store an aware datetime's local clock time as if it were UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        # A naive datetime is taken as UTC, the store's own convention.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[str]: JSON}


class OpportunityRow(Base):
    __tablename__ = "opportunities"

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    territory: Mapped[str] = mapped_column(String(200), index=True)
    sector: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(3))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    price_eur: Mapped[float | None] = mapped_column(Float)
    housing: Mapped[bool] = mapped_column(Boolean)
    remote_friendly: Mapped[bool] = mapped_column(Boolean)
    available_from: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    text_hash: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class HolderRow(Base):
    __tablename__ = "holders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest_opt_in: Mapped[bool] = mapped_column(Boolean, index=True)
    share_with_territories: Mapped[bool] = mapped_column(Boolean)
    # Set when the person unsubscribed from an e-mail: a bulk import never signs them up again.
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    feedback_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    """An API account; only the SHA-256 of its bearer token is stored."""

    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    territories: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DigestRunRow(Base):
    """One run of the weekly digest and its summary."""

    __tablename__ = "digest_runs"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    clock: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    holders_considered: Mapped[int] = mapped_column(Integer, default=0)
    emails_sent: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")


class SendRow(Base):
    """The send ledger: one row per (holder, opportunity) suggested in an accepted e-mail."""

    __tablename__ = "sends"

    send_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("digest_runs.run_id"))
    clock: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(255))


class CatalogueState(Base):
    __tablename__ = "catalogue_state"

    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


class CommuneRow(Base):
    __tablename__ = "communes"

    row_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    insee: Mapped[str] = mapped_column(String(5), index=True)
    type: Mapped[str | None] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(200))
    name_article: Mapped[str | None] = mapped_column(String(200))
    postcode: Mapped[str | None] = mapped_column(String(5))
    department: Mapped[str] = mapped_column(String(3))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    population: Mapped[int] = mapped_column(Integer)


Index("ix_opportunities_kind_status", OpportunityRow.kind, OpportunityRow.status)


def text_hash(opportunity: Opportunity) -> str:
    """Hash of the text an opportunity is embedded from: it tells when to re-embed."""
    return hashlib.sha256("\n".join(opportunity.document()).encode("utf-8")).hexdigest()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the service read while a CLI import or the digest writes; the busy timeout
    # makes a second writer wait for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _opportunity_columns(opportunity: Opportunity) -> dict[str, Any]:
    loc = opportunity.location
    return {
        "kind": opportunity.kind,
        "status": opportunity.status,
        "territory": opportunity.territory,
        "sector": opportunity.sector,
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


class Store:
    """The database: opportunities, holders, feedback, gazetteer."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self.session() as session:
            if session.get(CatalogueState, 1) is None:
                session.add(CatalogueState(key=1, seq=0))

    def _add_missing_columns(self) -> None:
        """Bring a database made by an earlier version up to date.

        Only additive changes exist so far: nullable columns, added in place (portable
        ``ALTER TABLE ... ADD COLUMN``). Anything else is refused with a message.
        """
        existing = inspect(self.engine)
        with self.engine.begin() as connection:
            for table in Base.metadata.sorted_tables:
                present = {c["name"] for c in existing.get_columns(table.name)}
                for column in table.columns:
                    if column.name in present:
                        continue
                    if not column.nullable:
                        raise MatcherError(
                            f"base de données d'une version antérieure : la colonne {table.name}."
                            f"{column.name} manque ; réimportez vos données dans un MATCHER_HOME neuf"
                        )
                    kind = column.type.compile(dialect=self.engine.dialect)
                    connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()

    # --- catalogue -------------------------------------------------------------------------

    def catalogue_seq(self) -> int:
        with self.session() as session:
            return session.scalar(select(CatalogueState.seq).where(CatalogueState.key == 1)) or 0

    @staticmethod
    def _bump_seq(session: Session) -> int:
        session.execute(
            update(CatalogueState).where(CatalogueState.key == 1).values(seq=CatalogueState.seq + 1)
        )
        return session.scalar(select(CatalogueState.seq).where(CatalogueState.key == 1))

    def save_opportunity(
        self, session: Session, opportunity: Opportunity, now: datetime | None = None
    ) -> str:
        """Insert or update one opportunity; returns 'inserted', 'updated' or 'unchanged'."""
        now = now or utcnow()
        columns = _opportunity_columns(opportunity)
        row = session.scalar(select(OpportunityRow).where(OpportunityRow.id == opportunity.id))
        if row is not None and row.payload == columns["payload"]:
            return "unchanged"
        seq = self._bump_seq(session)
        if row is None:
            session.add(OpportunityRow(id=opportunity.id, seq=seq, created_at=now, updated_at=now, **columns))
            session.flush()
            return "inserted"
        for name, value in columns.items():
            setattr(row, name, value)
        row.seq, row.updated_at = seq, now
        session.flush()
        return "updated"

    def opportunity(self, opportunity_id: str) -> Opportunity:
        with self.session() as session:
            row = session.scalar(select(OpportunityRow).where(OpportunityRow.id == opportunity_id))
            if row is None:
                raise NotFound(f"opportunité inconnue : {opportunity_id}")
            return Opportunity.model_validate(row.payload)

    def opportunities_by_row_id(self, row_ids: list[int]) -> dict[int, Opportunity]:
        with self.session() as session:
            rows = session.execute(
                select(OpportunityRow.row_id, OpportunityRow.payload).where(
                    OpportunityRow.row_id.in_(row_ids)
                )
            )
            return {row_id: Opportunity.model_validate(payload) for row_id, payload in rows}

    def list_opportunities(
        self,
        *,
        kind: str | None = None,
        department: str | None = None,
        territory: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Opportunity]]:
        """(total matching, one page) of opportunities, in id order."""
        conditions = [
            column == value
            for column, value in (
                (OpportunityRow.kind, kind),
                (OpportunityRow.department, department),
                (OpportunityRow.territory, territory),
                (OpportunityRow.status, status),
            )
            if value is not None
        ]
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(OpportunityRow).where(*conditions))
            stmt = select(OpportunityRow.payload).where(*conditions).order_by(OpportunityRow.id)
            page = session.scalars(stmt.offset(offset).limit(limit))
            return total or 0, [Opportunity.model_validate(p) for p in page]

    def catalogue_rows(self, since_seq: int = 0) -> list[OpportunityRow]:
        """Rows changed after ``since_seq`` (all rows for 0), without loading their payload."""
        with self.session() as session:
            stmt = (
                select(OpportunityRow)
                .options(defer(OpportunityRow.payload))
                .where(OpportunityRow.seq > since_seq)
                .order_by(OpportunityRow.row_id)
            )
            return list(session.scalars(stmt))

    # --- holders ---------------------------------------------------------------------------

    def save_holder(
        self,
        session: Session,
        holder: HolderProfile,
        now: datetime | None = None,
        *,
        keep_unsubscribe: bool = False,
        unsubscribing: bool = False,
    ) -> str:
        """Insert or update one holder profile; returns 'inserted', 'updated' or 'unchanged'.

        ``unsubscribing``: the person opted out themselves (the e-mail's link). With
        ``keep_unsubscribe`` (bulk imports), such an opt-out survives a record that says
        ``digest_opt_in: true``; an explicit edit of the profile (the API) can still opt in.
        """
        now = now or utcnow()
        row = session.get(HolderRow, holder.id)
        if keep_unsubscribe and row is not None and row.unsubscribed_at is not None and holder.digest_opt_in:
            holder = holder.model_copy(update={"digest_opt_in": False})
        payload = holder.model_dump(mode="json", exclude_none=True)
        if row is not None and row.payload == payload:
            return "unchanged"
        values = {
            "payload": payload,
            "digest_opt_in": holder.digest_opt_in,
            "share_with_territories": holder.share_with_territories,
            "updated_at": now,
        }
        if unsubscribing:
            values["unsubscribed_at"] = now
        elif holder.digest_opt_in:
            values["unsubscribed_at"] = None
        if row is None:
            session.add(HolderRow(id=holder.id, created_at=now, **values))
            session.flush()
            return "inserted"
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        return "updated"

    def holder(self, holder_id: str) -> HolderProfile:
        with self.session() as session:
            row = session.get(HolderRow, holder_id)
            if row is None:
                raise NotFound(f"porteur de projet inconnu : {holder_id}")
            return HolderProfile.model_validate(row.payload)

    def list_holders(
        self,
        *,
        digest_opt_in: bool | None = None,
        share_with_territories: bool | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[HolderProfile]]:
        """(total matching, one page) of holder profiles, in id order; all of them without limit."""
        conditions = [
            column == value
            for column, value in (
                (HolderRow.digest_opt_in, digest_opt_in),
                (HolderRow.share_with_territories, share_with_territories),
            )
            if value is not None
        ]
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(HolderRow).where(*conditions))
            stmt = select(HolderRow.payload).where(*conditions).order_by(HolderRow.id).offset(offset)
            page = session.scalars(stmt if limit is None else stmt.limit(limit))
            return total or 0, [HolderProfile.model_validate(p) for p in page]

    def holders(
        self, *, digest_opt_in: bool | None = None, share_with_territories: bool | None = None
    ) -> list[HolderProfile]:
        """Every holder profile matching the filters, in id order."""
        _, holders = self.list_holders(
            digest_opt_in=digest_opt_in, share_with_territories=share_with_territories
        )
        return holders

    def delete_holder(self, holder_id: str) -> None:
        """Erase a holder and everything stored about them (cascades to their history)."""
        with self.session() as session:
            if session.get(HolderRow, holder_id) is None:
                raise NotFound(f"porteur de projet inconnu : {holder_id}")
            session.execute(delete(FeedbackRow).where(FeedbackRow.holder_id == holder_id))
            session.execute(delete(SendRow).where(SendRow.holder_id == holder_id))
            session.execute(delete(HolderRow).where(HolderRow.id == holder_id))

    # --- feedback --------------------------------------------------------------------------

    def add_feedback(self, holder_id: str, opportunity_id: str, verdict: str) -> None:
        with self.session() as session:
            if session.get(HolderRow, holder_id) is None:
                raise NotFound(f"porteur de projet inconnu : {holder_id}")
            known = session.scalar(select(OpportunityRow.row_id).where(OpportunityRow.id == opportunity_id))
            if known is None:
                raise NotFound(f"opportunité inconnue : {opportunity_id}")
            session.add(
                FeedbackRow(
                    holder_id=holder_id,
                    opportunity_id=opportunity_id,
                    verdict=verdict,
                    created_at=utcnow(),
                )
            )

    def rejected_by(self, holder_ids: list[str]) -> dict[str, set[str]]:
        """Opportunity ids each holder marked not relevant."""
        rejected: dict[str, set[str]] = {h: set() for h in holder_ids}
        with self.session() as session:
            rows = session.execute(
                select(FeedbackRow.holder_id, FeedbackRow.opportunity_id).where(
                    FeedbackRow.verdict == "not_relevant", FeedbackRow.holder_id.in_(holder_ids)
                )
            )
            for holder_id, opportunity_id in rows:
                rejected[holder_id].add(opportunity_id)
        return rejected

    # --- gazetteer -------------------------------------------------------------------------

    def replace_communes(self, records: list[dict[str, Any]]) -> int:
        with self.session() as session:
            session.execute(delete(CommuneRow))
            session.execute(CommuneRow.__table__.insert(), records)
        return len(records)

    def communes(self) -> list[dict[str, Any]]:
        with self.session() as session:
            columns = [c for c in CommuneRow.__table__.columns if c.name != "row_id"]
            return [dict(r._mapping) for r in session.execute(select(*columns))]

    def count(self, table: type[Base]) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(table)) or 0
