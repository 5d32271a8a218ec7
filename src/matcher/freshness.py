"""When an offer needs its officer: it expires soon, it has expired, or nobody has touched it
for months. Pure rules over a listing and a day, for the officers' pages and reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from matcher.domain import Listing

#: An offer expiring within this many days is flagged (and reminded of).
EXPIRY_NOTICE = timedelta(days=30)
#: An offer not updated for this long is flagged as possibly stale (about 6 months).
STALE_AFTER = timedelta(days=182)


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
    if today - listing.updated_at.date() >= STALE_AFTER:
        return FreshnessCheck(Freshness.stale, days_left)
    return FreshnessCheck(Freshness.current, days_left)
