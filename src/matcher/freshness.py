"""When an offer needs its officer: it expires soon, it has expired, or nobody has touched it
for months. Pure rules over a listing and a day, for the officers' pages and reminders, and
what « Prolonger » does to an expiry."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from matcher.domain import Listing, Opportunity

#: An offer expiring within this many days is flagged (and reminded of).
EXPIRY_NOTICE = timedelta(days=30)
#: An offer not updated for this long is flagged as possibly stale (about 6 months).
STALE_AFTER = timedelta(days=182)
#: ``STALE_AFTER`` as the pages and e-mails say it.
STALE_AFTER_MONTHS = 6
#: What « Prolonger » adds to an offer's expiry.
PROLONG_MONTHS = 6


class Freshness(StrEnum):
    """What a published offer's dates say, as the listing flags it."""

    current = "current"
    expiring = "expiring"
    stale = "stale"
    expired = "expired"
    archived = "archived"

    @property
    def label(self) -> str:
        return FRESHNESS_LABELS[self]


FRESHNESS_LABELS = {
    Freshness.current: "À jour",
    Freshness.expiring: "Expire bientôt",
    Freshness.stale: "Pas mise à jour depuis 6 mois",
    Freshness.expired: "Expirée",
    Freshness.archived: "Archivée",
}


@dataclass(frozen=True)
class FreshnessCheck:
    """An offer's freshness on a day; ``days_left`` until its expiry when it has one."""

    freshness: Freshness
    days_left: int | None

    @property
    def needs_attention(self) -> bool:
        return self.freshness in (Freshness.expiring, Freshness.stale, Freshness.expired)


def is_stale(listing: Listing, today: date) -> bool:
    """Not updated for ``STALE_AFTER`` or longer."""
    return today - listing.updated_at.date() >= STALE_AFTER


def freshness(listing: Listing, today: date) -> FreshnessCheck:
    """Expired before expiring, expiring before stale: the nearest deadline first."""
    offer = listing.opportunity
    days_left = None if offer.expires_on is None else (offer.expires_on - today).days
    if offer.status == "archived":
        return FreshnessCheck(Freshness.archived, days_left)
    if days_left is not None and days_left < 0:
        return FreshnessCheck(Freshness.expired, days_left)
    if days_left is not None and days_left <= EXPIRY_NOTICE.days:
        return FreshnessCheck(Freshness.expiring, days_left)
    if is_stale(listing, today):
        return FreshnessCheck(Freshness.stale, days_left)
    return FreshnessCheck(Freshness.current, days_left)


# --- reminders ---------------------------------------------------------------------------------

DueReason = Literal["expiring", "stale"]
#: (opportunity id, reason, period): one reminder, as the ledger keeps it.
Reminded = tuple[str, str, str]


@dataclass(frozen=True)
class DueOffer:
    """A published offer still online that needs its officer's look, and why (``reasons``)."""

    listing: Listing
    reasons: tuple[DueReason, ...]

    @property
    def opportunity(self) -> Opportunity:
        return self.listing.opportunity

    def period(self, reason: DueReason) -> str:
        """What makes the offer due for ``reason``: a reminder is sent once per period, so a
        prolonged expiry or a new update starts a new one."""
        if reason == "expiring":
            return str(self.opportunity.expires_on)
        return self.listing.updated_at.date().isoformat()


def due_reasons(listing: Listing, today: date) -> tuple[DueReason, ...]:
    """Why an offer is due for a reminder today: it is published, not expired, and expiring or
    stale (possibly both); none when it is not due."""
    if listing.opportunity.status != "published":
        return ()
    check = freshness(listing, today)
    if check.freshness is Freshness.expired:
        return ()
    reasons: list[DueReason] = ["expiring"] if check.freshness is Freshness.expiring else []
    if is_stale(listing, today):
        reasons.append("stale")
    return tuple(reasons)


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` (negative: back), on the month's last day when it is shorter
    (31 August + 6 months = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def prolonged_expiry(expires_on: date | None, today: date, months: int = PROLONG_MONTHS) -> date:
    """The expiry after prolonging: ``months`` after the current one, or after today when the
    offer has none or it is already past."""
    return add_months(max(expires_on or today, today), months)
