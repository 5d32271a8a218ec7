"""Holders' persistence: profiles, their opt-ins, their feedback, their vectors; erasure of all
of it."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from matcher.areas import name_key
from matcher.clock import utcnow
from matcher.domain import (
    CaseloadEntry,
    Counsellor,
    Feedback,
    HolderProfile,
    HolderQuery,
    Verdict,
    Widening,
    organisation_key,
    profile_text,
)
from matcher.errors import AlreadyExists, NotFound
from matcher.store.catalogue import SaveOutcome
from matcher.store.database import Database, in_chunks
from matcher.store.schema import (
    SENT,
    ContactProposalRow,
    FeedbackRow,
    HolderRow,
    HolderState,
    HolderVectorRow,
    OpportunityRow,
    SendRow,
    WideningRow,
)


def profile_hash(holder: HolderProfile) -> str:
    """Hash of the text a profile is embedded from: it tells when its stored vector is stale."""
    return hashlib.sha256(profile_text(holder).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredVector:
    """A holder's stored vector and the hash of the text it was embedded from."""

    text_hash: str
    vector: np.ndarray


def _moved(session: Session) -> int:
    """Move the holders' sequence number in the writing transaction and return it: the rows
    written carry it, so that what changed since any number is read exactly (writers wait on
    this row's lock, so numbers follow the order of commits)."""
    session.execute(update(HolderState).where(HolderState.key == 1).values(seq=HolderState.seq + 1))
    return session.scalar(select(HolderState.seq).where(HolderState.key == 1)) or 0


def _vector(row_vector: bytes, dim: int) -> np.ndarray | None:
    vector = np.frombuffer(row_vector, dtype=np.float32)
    return vector if len(vector) == dim else None


def _unknown(holder_id: str) -> NotFound:
    return NotFound(f"porteur de projet inconnu : {holder_id}")


def _matches_search(holder: HolderProfile, words: list[str]) -> bool:
    commune = holder.origin.commune if holder.origin else None
    haystack = name_key(" ".join(part for part in (holder.name, commune) if part))
    return all(word in haystack for word in words)


def _keeping_organisation(holder: HolderProfile, stored: dict[str, Any]) -> HolderProfile:
    named = (stored.get("counsellor") or {}).get("organisation")
    if not named or (holder.counsellor and holder.counsellor.organisation):
        return holder
    contact = (holder.counsellor or Counsellor()).model_copy(update={"organisation": named})
    return holder.model_copy(update={"counsellor": contact})


class HolderStore:
    """Holder profiles (upsert by id), their digest opt-in, and their feedback on offers."""

    def __init__(self, database: Database):
        self.database = database

    def save(
        self,
        session: Session,
        holder: HolderProfile,
        now: datetime | None = None,
        *,
        keep_unsubscribe: bool = False,
        unsubscribing: bool = False,
    ) -> SaveOutcome:
        """Insert or update one holder profile inside ``session``.

        A record that names no organisation keeps the stored one: only naming another moves a
        holder to another caseload.

        ``unsubscribing``: the person opted out themselves (the e-mail's link). With
        ``keep_unsubscribe`` (bulk imports), such an opt-out survives a record that says
        ``digest_opt_in: true``; an explicit edit of the profile (the API) can still opt in.
        """
        now = now or utcnow()
        row = session.get(HolderRow, holder.id)
        if row is not None:
            holder = _keeping_organisation(holder, row.payload)
        if keep_unsubscribe and row is not None and row.unsubscribed_at is not None and holder.digest_opt_in:
            holder = holder.model_copy(update={"digest_opt_in": False})
        payload = holder.model_dump(mode="json", exclude_none=True)
        if row is not None and row.payload == payload:
            return "unchanged"
        values: dict[str, Any] = {
            "payload": payload,
            "organisation_key": organisation_key(holder.organisation),
            "digest_opt_in": holder.digest_opt_in,
            "share_with_territories": holder.share_with_territories,
            "updated_at": now,
        }
        if unsubscribing:
            values["unsubscribed_at"] = now
        elif holder.digest_opt_in:
            values["unsubscribed_at"] = None
        values["seq"] = _moved(session)
        if row is None:
            session.add(HolderRow(id=holder.id, created_at=now, **values))
            session.flush()
            return "inserted"
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        return "updated"

    def put(self, holder: HolderProfile, *, create: bool = False) -> SaveOutcome:
        """Store one profile in its own transaction; with ``create``, an existing id is a conflict
        and nothing is written."""
        with self.database.session() as session:
            outcome = self.save(session, holder)
            if create and outcome != "inserted":
                raise AlreadyExists(
                    f"le porteur de projet {holder.id} existe déjà ; modifiez-le par PUT ou PATCH"
                )
        return outcome

    def get(self, holder_id: str) -> HolderProfile:
        with self.database.reading() as session:
            row = session.get(HolderRow, holder_id)
            if row is None:
                raise _unknown(holder_id)
            return HolderProfile.from_stored(row.payload)

    def many(self, holder_ids: Collection[str]) -> list[HolderProfile]:
        """The stored profiles among these ids, in id order (unknown ids are skipped)."""
        ids = list(dict.fromkeys(holder_ids))
        with self.database.reading() as session:
            payloads = [
                (key, payload)
                for chunk in in_chunks(ids)
                for key, payload in session.execute(
                    select(HolderRow.id, HolderRow.payload).where(HolderRow.id.in_(chunk))
                )
            ]
        return [HolderProfile.from_stored(payload) for _, payload in sorted(payloads, key=lambda row: row[0])]

    def opted_in(self, holder_id: str) -> bool:
        """Whether the stored holder still asks for the digest (False once erased)."""
        with self.database.reading() as session:
            return bool(session.scalar(select(HolderRow.digest_opt_in).where(HolderRow.id == holder_id)))

    def _conditions(self, query: HolderQuery) -> list[Any]:
        conditions = [
            column == value
            for column, value in (
                (HolderRow.digest_opt_in, query.digest_opt_in),
                (HolderRow.share_with_territories, query.share_with_territories),
            )
            if value is not None
        ]
        if query.organisation is not None:
            conditions.append(HolderRow.organisation_key == organisation_key(query.organisation))
        return conditions

    def page(self, query: HolderQuery = HolderQuery()) -> tuple[int, list[HolderProfile]]:
        """(total matching, one page) of holder profiles, in id order; all of them without limit."""
        total, rows = self._listed(query, select(HolderRow.payload))
        return total, [holder for holder, *_ in rows]

    def caseload(self, query: HolderQuery = HolderQuery()) -> tuple[int, list[CaseloadEntry]]:
        """(total matching, one page) of holders with their last match and digest, in id order."""
        last_digest = (
            select(SendRow.holder_id, func.max(SendRow.sent_at).label("sent_at"))
            .where(SendRow.state == SENT)
            .group_by(SendRow.holder_id)
            .subquery()
        )
        stmt = select(HolderRow.payload, HolderRow.last_matched_at, last_digest.c.sent_at).outerjoin(
            last_digest, last_digest.c.holder_id == HolderRow.id
        )
        total, rows = self._listed(query, stmt)
        return total, [CaseloadEntry(holder, matched, sent) for holder, matched, sent in rows]

    def _listed(self, query: HolderQuery, stmt: Select[Any]) -> tuple[int, list[tuple[Any, ...]]]:
        """(total, one page) of ``stmt``'s rows (the payload first, read as a profile) under
        ``query``'s conditions, in id order.

        A ``search`` is matched in Python on the name and commune (kept in the payload): it lists
        an organisation's clients, hundreds rather than millions.
        """
        conditions = self._conditions(query)
        stmt = stmt.where(*conditions).order_by(HolderRow.id)
        with self.database.reading() as session:
            if not query.search:
                total = session.scalar(select(func.count()).select_from(HolderRow).where(*conditions)) or 0
                rows = session.execute(stmt.offset(query.offset).limit(query.limit)).all()
                return total, [(HolderProfile.from_stored(payload), *rest) for payload, *rest in rows]
            words = name_key(query.search).split()
            read = [(HolderProfile.from_stored(payload), *rest) for payload, *rest in session.execute(stmt)]
        found = [row for row in read if _matches_search(row[0], words)]
        end = None if query.limit is None else query.offset + query.limit
        return len(found), found[query.offset : end]

    def organisation_of(self, holder_id: str) -> str | None:
        """The organisation key of a stored holder, or None for an unknown id."""
        with self.database.reading() as session:
            return session.scalar(select(HolderRow.organisation_key).where(HolderRow.id == holder_id))

    def mark_matched(self, holder_id: str, when: datetime) -> None:
        with self.database.session() as session:
            row = session.get(HolderRow, holder_id)
            if row is not None:
                row.last_matched_at = when

    def count(self) -> int:
        with self.database.reading() as session:
            return session.scalar(select(func.count()).select_from(HolderRow)) or 0

    def delete(self, holder_id: str) -> None:
        """Erase a holder and everything stored about them (feedback, send history, contacts
        proposed by officers, their vector)."""
        with self.database.session() as session:
            if session.get(HolderRow, holder_id) is None:
                raise _unknown(holder_id)
            session.execute(delete(FeedbackRow).where(FeedbackRow.holder_id == holder_id))
            session.execute(delete(WideningRow).where(WideningRow.holder_id == holder_id))
            session.execute(delete(SendRow).where(SendRow.holder_id == holder_id))
            session.execute(delete(ContactProposalRow).where(ContactProposalRow.holder_id == holder_id))
            session.execute(delete(HolderVectorRow).where(HolderVectorRow.holder_key == holder_id))
            session.execute(delete(HolderRow).where(HolderRow.id == holder_id))
            _moved(session)
        self.database.checkpoint()

    def unsubscribe(self, holder_id: str) -> bool | None:
        """Clear the holder's digest opt-in; True if it changed, False if already out, None if
        the holder no longer exists."""
        with self.database.session() as session:
            # Read and write in one transaction, so that a profile edit made meanwhile is not lost.
            row = session.get(HolderRow, holder_id)
            if row is None:
                return None
            holder = HolderProfile.from_stored(row.payload)
            if not (holder.digest_opt_in or row.digest_opt_in):
                return False
            # Through save, so that the stored profile and the opt-in column agree.
            self.save(session, holder.model_copy(update={"digest_opt_in": False}), unsubscribing=True)
            row.digest_opt_in = False
            return True

    def add_feedback(
        self, holder_id: str, opportunity_id: str, verdict: Verdict, comment: str | None = None
    ) -> None:
        with self.database.session() as session:
            if session.get(HolderRow, holder_id) is None:
                raise _unknown(holder_id)
            known = session.scalar(select(OpportunityRow.row_id).where(OpportunityRow.id == opportunity_id))
            if known is None:
                raise NotFound(f"opportunité inconnue : {opportunity_id}")
            session.add(
                FeedbackRow(
                    holder_id=holder_id,
                    opportunity_id=opportunity_id,
                    verdict=verdict,
                    comment=comment,
                    created_at=utcnow(),
                )
            )

    def rejected_by(self, holder_ids: list[str]) -> dict[str, set[str]]:
        """Opportunity ids each holder marked not relevant."""
        rejected: dict[str, set[str]] = {h: set() for h in holder_ids}
        with self.database.reading() as session:
            rows = session.execute(
                select(FeedbackRow.holder_id, FeedbackRow.opportunity_id).where(
                    FeedbackRow.verdict == "not_relevant", FeedbackRow.holder_id.in_(holder_ids)
                )
            )
            for holder_id, opportunity_id in rows:
                rejected[holder_id].add(opportunity_id)
        return rejected

    def feedback_of(self, holder_id: str) -> list[Feedback]:
        """Every verdict given for one holder, newest first."""
        with self.database.reading() as session:
            rows = session.scalars(
                select(FeedbackRow)
                .where(FeedbackRow.holder_id == holder_id)
                .order_by(FeedbackRow.created_at.desc(), FeedbackRow.feedback_id.desc())
            )
            return [Feedback(r.opportunity_id, r.verdict, r.comment, r.created_at) for r in rows]  # type: ignore[arg-type]

    def interested_counts(self, opportunity_ids: Collection[str], since: datetime) -> dict[str, int]:
        """How many holders marked each offer « interested » since ``since``, by their latest
        word on it (a holder who then said « not relevant » no longer counts), each holder once;
        offers nobody marked are absent."""
        ids = list(opportunity_ids)
        counts: dict[str, int] = {}
        with self.database.reading() as session:
            for chunk in in_chunks(ids):
                latest = (
                    select(func.max(FeedbackRow.feedback_id))
                    .where(FeedbackRow.opportunity_id.in_(chunk))
                    .group_by(FeedbackRow.holder_id, FeedbackRow.opportunity_id)
                )
                query = (
                    select(FeedbackRow.opportunity_id, func.count(FeedbackRow.holder_id))
                    .where(
                        FeedbackRow.feedback_id.in_(latest),
                        FeedbackRow.verdict == "interested",
                        FeedbackRow.created_at >= since,
                    )
                    .group_by(FeedbackRow.opportunity_id)
                )
                counts.update({opportunity_id: int(n) for opportunity_id, n in session.execute(query)})
        return counts

    def save_widening(
        self, session: Session, holder_id: str, constraint: str, value: Any, account: str
    ) -> None:
        session.add(
            WideningRow(
                holder_id=holder_id, constraint=constraint, value=value, account=account, created_at=utcnow()
            )
        )

    def widenings_of(self, holder_id: str) -> list[Widening]:
        """The widenings saved in one holder's profile, newest first."""
        with self.database.reading() as session:
            rows = session.scalars(
                select(WideningRow)
                .where(WideningRow.holder_id == holder_id)
                .order_by(WideningRow.created_at.desc(), WideningRow.widening_id.desc())
            )
            return [Widening(r.constraint, r.value, r.account, r.created_at) for r in rows]

    # --- vectors -------------------------------------------------------------------------------

    def vectors(self, holder_ids: Collection[str], encoder: str, dim: int) -> dict[str, StoredVector]:
        """The stored vectors of these holders made by ``encoder`` (others are absent)."""
        ids = list(dict.fromkeys(holder_ids))
        found: dict[str, StoredVector] = {}
        with self.database.reading() as session:
            for chunk in in_chunks(ids):
                rows = session.execute(
                    select(
                        HolderVectorRow.holder_key, HolderVectorRow.text_hash, HolderVectorRow.vector
                    ).where(
                        HolderVectorRow.holder_key.in_(chunk),
                        HolderVectorRow.encoder == encoder,
                        HolderVectorRow.dim == dim,
                    )
                )
                for key, digest, blob in rows:
                    if (vector := _vector(blob, dim)) is not None:
                        found[key] = StoredVector(digest, vector)
        return found

    def save_vectors(
        self, vectors: dict[str, StoredVector], encoder: str, now: datetime | None = None
    ) -> int:
        """Keep these holders' vectors (replacing their earlier ones) in one short transaction;
        ids no stored holder has are skipped (an unsaved profile). Returns how many were kept."""
        now = now or utcnow()
        dialect = self.database.engine.dialect.name
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        with self.database.session() as session:
            ids = list(vectors)
            stored = [
                key
                for chunk in in_chunks(ids)
                for key in session.scalars(select(HolderRow.id).where(HolderRow.id.in_(chunk)))
            ]
            if not stored:
                return 0
            seq = _moved(session)
            rows = [
                {
                    "holder_key": key,
                    "text_hash": vectors[key].text_hash,
                    "encoder": encoder,
                    "dim": len(vectors[key].vector),
                    "vector": np.ascontiguousarray(vectors[key].vector, dtype=np.float32).tobytes(),
                    "seq": seq,
                    "updated_at": now,
                }
                for key in stored
            ]
            statement = upsert(HolderVectorRow)
            statement = statement.on_conflict_do_update(
                index_elements=["holder_key"],
                set_={
                    name: statement.excluded[name]
                    for name in ("text_hash", "encoder", "dim", "vector", "seq", "updated_at")
                },
            )
            session.execute(statement, rows)
        return len(rows)

    def with_vectors(
        self, encoder: str, dim: int, holder_ids: Collection[str] | None = None
    ) -> list[tuple[HolderProfile, StoredVector | None]]:
        """The holders who share their profile with territories (without ``holder_ids``), or
        those of ``holder_ids`` whoever they share with, in id order, each with their stored
        vector made by ``encoder`` (None when there is none, or only another encoder's)."""
        stmt = select(HolderRow.payload, HolderVectorRow.text_hash, HolderVectorRow.vector).outerjoin(
            HolderVectorRow,
            (HolderVectorRow.holder_key == HolderRow.id)
            & (HolderVectorRow.encoder == encoder)
            & (HolderVectorRow.dim == dim),
        )
        chunks = [list(c) for c in in_chunks(list(holder_ids))] if holder_ids is not None else [None]
        found: list[tuple[HolderProfile, StoredVector | None]] = []
        with self.database.reading() as session:
            for chunk in chunks:
                condition = (
                    HolderRow.share_with_territories.is_(True) if chunk is None else HolderRow.id.in_(chunk)
                )
                for payload, digest, blob in session.execute(stmt.where(condition).order_by(HolderRow.id)):
                    vector = None if blob is None else _vector(blob, dim)
                    stored = None if vector is None else StoredVector(digest, vector)
                    found.append((HolderProfile.from_stored(payload), stored))
        return found

    def changed_since(self, seq: int) -> list[str]:
        """Ids of the holders written, or whose vector was, after the sequence number ``seq``."""
        with self.database.reading() as session:
            written = session.scalars(select(HolderRow.id).where(HolderRow.seq > seq))
            revectored = session.scalars(select(HolderVectorRow.holder_key).where(HolderVectorRow.seq > seq))
            return sorted(set(written) | set(revectored))

    def sharing_count(self) -> int:
        """How many holders share their profile with territories."""
        with self.database.reading() as session:
            sharing = HolderRow.share_with_territories.is_(True)
            return session.scalar(select(func.count()).select_from(HolderRow).where(sharing)) or 0

    def sharing_ids(self) -> set[str]:
        """The ids of the holders who share their profile with territories."""
        with self.database.reading() as session:
            return set(
                session.scalars(select(HolderRow.id).where(HolderRow.share_with_territories.is_(True)))
            )

    def lacking_vectors(
        self, encoder: str, dim: int, after: str = "", limit: int = 1000
    ) -> tuple[list[HolderProfile], str | None]:
        """One page (``limit`` holders in id order after ``after``) of the holders whose stored
        vector is missing, stale or another encoder's; and the last id read (None at the end)."""
        stmt = (
            select(HolderRow.id, HolderRow.payload, HolderVectorRow.text_hash)
            .outerjoin(
                HolderVectorRow,
                (HolderVectorRow.holder_key == HolderRow.id)
                & (HolderVectorRow.encoder == encoder)
                & (HolderVectorRow.dim == dim),
            )
            .where(HolderRow.id > after)
            .order_by(HolderRow.id)
            .limit(limit)
        )
        with self.database.reading() as session:
            rows = session.execute(stmt).all()
        lacking = [
            holder
            for holder, digest in (
                (HolderProfile.from_stored(payload), digest) for _, payload, digest in rows
            )
            if digest != profile_hash(holder)
        ]
        return lacking, rows[-1][0] if rows else None

    def seq(self) -> int:
        """The holders' sequence number: it moved if and only if a holder or their vector was
        written or erased."""
        with self.database.reading() as session:
            return session.scalar(select(HolderState.seq).where(HolderState.key == 1)) or 0

    def rejecting(self, opportunity_id: str) -> set[str]:
        """The holders who marked ``opportunity_id`` not relevant."""
        with self.database.reading() as session:
            return set(
                session.scalars(
                    select(FeedbackRow.holder_id).where(
                        FeedbackRow.verdict == "not_relevant", FeedbackRow.opportunity_id == opportunity_id
                    )
                )
            )

    def bulk_insert(self, holders: Iterable[HolderProfile], now: datetime | None = None) -> None:
        """Insert many new holder profiles in one statement (synthetic caseloads, benchmarks)."""
        now = now or utcnow()
        holders = list(holders)
        if not holders:
            return
        with self.database.session() as session:
            seq = _moved(session)
            rows = [
                {
                    "id": holder.key,
                    "payload": holder.model_dump(mode="json", exclude_none=True),
                    "organisation_key": organisation_key(holder.organisation),
                    "digest_opt_in": holder.digest_opt_in,
                    "share_with_territories": holder.share_with_territories,
                    "seq": seq,
                    "created_at": now,
                    "updated_at": now,
                }
                for holder in holders
            ]
            session.execute(insert(HolderRow), rows)
