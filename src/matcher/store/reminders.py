"""The reminders' persistence: which offers are due, and the ledger of what each officer was sent.

The ledger keeps one row per (account, offer, reason, period) of an accepted e-mail; a unique
constraint makes a second row for the same four impossible, whatever runs at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select

from matcher.clock import utcnow
from matcher.domain import Listing, Opportunity
from matcher.freshness import EXPIRY_NOTICE, STALE_AFTER, DueOffer, Reminded, due_reasons
from matcher.store.database import Database
from matcher.store.schema import OpportunityRow, ReminderRow


class ReminderLedger:
    """Offers due for a reminder, and the reminders sent."""

    def __init__(self, database: Database):
        self.database = database

    def due_offers(self, today: date) -> list[DueOffer]:
        """Published offers still online that expire within the notice or were not updated for
        ``STALE_AFTER``, in id order."""
        # The query keeps a day of margin on the update; the rule itself is due_reasons.
        stale_before = datetime.combine(today - STALE_AFTER + timedelta(days=1), datetime.max.time())
        with self.database.session() as session:
            rows = session.execute(
                select(OpportunityRow.payload, OpportunityRow.created_at, OpportunityRow.updated_at)
                .where(
                    OpportunityRow.status == "published",
                    or_(OpportunityRow.expires_on.is_(None), OpportunityRow.expires_on >= today),
                    or_(
                        OpportunityRow.expires_on <= today + EXPIRY_NOTICE,
                        OpportunityRow.updated_at <= stale_before,
                    ),
                )
                .order_by(OpportunityRow.id)
            ).all()
        due = []
        for payload, created_at, updated_at in rows:
            listing = Listing(Opportunity.from_stored(payload), created_at, updated_at)
            if reasons := due_reasons(listing, today):
                due.append(DueOffer(listing, reasons))
        return due

    def reminded(self, account_id: int) -> set[Reminded]:
        """What this account was already reminded of."""
        with self.database.session() as session:
            rows = session.execute(
                select(ReminderRow.opportunity_id, ReminderRow.reason, ReminderRow.period).where(
                    ReminderRow.account_id == account_id
                )
            )
            return {(opportunity_id, reason, period) for opportunity_id, reason, period in rows}

    @contextmanager
    def recording(
        self, account_id: int, reminders: list[Reminded], clock: datetime, message_id: str
    ) -> Iterator[None]:
        """Record one e-mail's reminders; the rows commit when the ``with`` body returns (the
        body hands the message to the server), and roll back if it raises.

        The rows are written before the body runs: a database that cannot take them (or a
        concurrent run that recorded them first) stops the e-mail before it goes out.
        """
        now = utcnow()
        with self.database.session() as session:
            session.add_all(
                ReminderRow(
                    account_id=account_id,
                    opportunity_id=opportunity_id,
                    reason=reason,
                    period=period,
                    clock=clock,
                    sent_at=now,
                    message_id=message_id,
                )
                for opportunity_id, reason, period in reminders
            )
            session.flush()
            yield
