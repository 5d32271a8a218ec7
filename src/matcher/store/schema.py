"""The tables: one ORM class per table, the schema Alembic's revisions build (see migrations/)."""

from __future__ import annotations

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
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


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
    # How listings by territory compare (matcher.domain.territory_key): no case, spaces collapsed.
    territory_key: Mapped[str] = mapped_column(String(200), index=True)
    # The sector's family code (the label as written is in the payload).
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
    # Whose caseload the holder is in (matcher.domain.organisation_key of their organisation).
    organisation_key: Mapped[str] = mapped_column(String(200), index=True)
    # When a counsellor last asked for this holder's matches.
    last_matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The holders' sequence number (HolderState) when last written: what changed since is read
    # by it (the holder index).
    seq: Mapped[int] = mapped_column(Integer, index=True, server_default="0")


class HolderVectorRow(Base):
    """A stored holder's vector (float32 bytes), valid while their text hashes to ``text_hash``
    and the encoder is ``encoder``; erased with the holder."""

    __tablename__ = "holder_vectors"

    holder_key: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), primary_key=True
    )
    text_hash: Mapped[str] = mapped_column(String(64))
    encoder: Mapped[str] = mapped_column(String(300))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    feedback_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WideningRow(Base):
    """A widened constraint a counsellor saved in a holder's profile from their matches."""

    __tablename__ = "widenings"

    widening_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    constraint: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    account: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    """An account; only the SHA-256 of its bearer token and the Argon2id hash of its password
    are stored."""

    __tablename__ = "users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    territories: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the bearer token stops working (None: never), and when it was last used.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSessionRow(Base):
    """A signed-in browser: only the SHA-256 of its cookie is stored, with its CSRF token."""

    __tablename__ = "web_sessions"

    session_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.user_id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


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


#: A send row's states: its e-mail handed to the server, then accepted by it.
PENDING, SENT = "pending", "sent"


class SendRow(Base):
    """The send ledger: one row per (holder, opportunity) suggested in an e-mail, « pending »
    while the mail server has it, « sent » once it accepted it."""

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
    state: Mapped[str] = mapped_column(String(16), default=SENT, server_default=SENT)


class ImpressionRow(Base):
    """How often one offer was shown on one day through one channel (« search » for a
    counsellor's matches, « digest » for a weekly e-mail): counts only, never to whom."""

    __tablename__ = "offer_impressions"

    opportunity_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ContactProposalRow(Base):
    """An officer proposed to put one holder in touch about one offer, through the holder's
    counsellor; erased with the holder."""

    __tablename__ = "contact_proposals"
    __table_args__ = (
        UniqueConstraint("opportunity_id", "holder_id", name="uq_contact_proposals_offer_holder"),
    )

    proposal_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(64))
    holder_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("holders.id", ondelete="CASCADE"), index=True
    )
    proposed_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HolderState(Base):
    """One row: a sequence number every write of a holder or of their vector moves."""

    __tablename__ = "holder_state"

    key: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


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


class ReminderRow(Base):
    """The reminders' ledger: one row per (officer, offer, reason, period) in an accepted e-mail,
    so that each is sent once, also across reruns."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("account_id", "opportunity_id", "reason", "period"),)

    reminder_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.user_id"), index=True)
    opportunity_id: Mapped[str] = mapped_column(String(64), index=True)
    # « expiring » (period: the expiry date) or « stale » (period: the last update's date).
    reason: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(32))
    clock: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(255))
