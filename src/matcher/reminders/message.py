"""The reminder e-mail to one officer: multipart text and HTML, in French, from Jinja2 templates.

Each offer carries two signed links, « Prolonger de 6 mois » and « Archiver » (the account, the
offer, the expiry shown, and the link's own expiry), whose pages ask before they change anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage

from matcher.accounts import User
from matcher.config import Settings
from matcher.digest.message import new_message, page_url, with_bodies
from matcher.digest.tokens import ARCHIVE_LINK, PROLONG_LINK, LinkPurpose, sign_link
from matcher.domain import KIND_LABELS
from matcher.explain import department_label, long_date, plural
from matcher.freshness import EXPIRY_NOTICE, PROLONG_MONTHS, STALE_AFTER_MONTHS, DueOffer

#: The pages behind the links (service.web.links).
PROLONG_PATH = "/rappels/prolonger"
ARCHIVE_PATH = "/rappels/archiver"


def subject(count: int, territories: int) -> str:
    where = "de votre territoire" if territories <= 1 else "de vos territoires"
    return f"{plural(count, 'offre')} {where} à vérifier sur matcher"


def days_left(expires_on: date, today: date) -> str:
    days = (expires_on - today).days
    return "aujourd'hui" if days == 0 else "demain" if days == 1 else f"dans {days} jours"


def facts(due: DueOffer, today: date) -> list[str]:
    """Why the offer is in the e-mail, in words, with its dates."""
    offer = due.opportunity
    lines = []
    if offer.expires_on is not None:
        left = f" ({days_left(offer.expires_on, today)})" if "expiring" in due.reasons else ""
        lines.append(f"Expire le {long_date(offer.expires_on)}{left}.")
    else:
        lines.append("Sans date d'expiration.")
    updated = f"Dernière mise à jour le {long_date(due.listing.updated_at)}"
    if "stale" in due.reasons:
        updated += f", il y a plus de {STALE_AFTER_MONTHS} mois"
    lines.append(updated + ".")
    return lines


@dataclass(frozen=True)
class ReminderComposer:
    """Builds one officer's reminder; ``secret_key`` signs the links."""

    settings: Settings
    secret_key: str

    def link(self, purpose: LinkPurpose, path: str, officer: User, due: DueOffer, now: datetime) -> str:
        offer = due.opportunity
        claims = {
            "account": str(officer.account_id),
            "offer": offer.id,
            "expires": str(offer.expires_on or ""),
        }
        return page_url(self.settings, path, sign_link(self.secret_key, purpose, claims, now))

    def item(self, officer: User, due: DueOffer, today: date, now: datetime) -> dict[str, object]:
        offer = due.opportunity
        return {
            "title": offer.title,
            "kind": KIND_LABELS[offer.kind],
            "commune": offer.location.commune,
            "department": department_label(offer.location.department),
            "territory": offer.territory,
            "reference": offer.id,
            "facts": facts(due, today),
            "prolong_url": self.link(PROLONG_LINK, PROLONG_PATH, officer, due, now),
            "archive_url": self.link(ARCHIVE_LINK, ARCHIVE_PATH, officer, due, now),
            "edit_url": f"{self.settings.public_url.rstrip('/')}/offres/{offer.id}/modifier",
        }

    def compose(self, officer: User, due: list[DueOffer], today: date, now: datetime) -> EmailMessage:
        territories = sorted({d.opportunity.territory for d in due})
        expiring = [self.item(officer, d, today, now) for d in due if "expiring" in d.reasons]
        stale = [self.item(officer, d, today, now) for d in due if "expiring" not in d.reasons]
        sections = [
            (f"Expirent dans les {EXPIRY_NOTICE.days} jours", expiring),
            (f"Sans mise à jour depuis {STALE_AFTER_MONTHS} mois", stale),
        ]
        context = {
            "name": officer.name,
            "subject": subject(len(due), len(territories)),
            "territories": ", ".join(territories),
            "sections": [(title, items) for title, items in sections if items],
            "months": PROLONG_MONTHS,
            "link_days": PROLONG_LINK.lifetime.days,
            "offers_url": f"{self.settings.public_url.rstrip('/')}/offres",
        }
        message = new_message(
            self.settings, str(context["subject"]), (officer.name, officer.email), "reminders", now
        )
        with_bodies(message, "reminders", context)
        return message
