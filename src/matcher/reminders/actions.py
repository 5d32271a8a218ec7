"""What the reminder's links do once confirmed: prolong an offer by 6 months, or archive it.

A link acts with the rights of the account it was sent to, checked again when it is used: a
revoked account's links stop working, and the offer must still be in the account's territories
(``Engine.editable``). A link names the expiry its e-mail showed: once the expiry changed (the
link was already used, or the offer was edited), « Prolonger » changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from matcher.accounts import User
from matcher.digest.tokens import ARCHIVE_LINK, PROLONG_LINK, InvalidToken, LinkPurpose, read_link
from matcher.domain import Opportunity
from matcher.engine import Engine
from matcher.explain import long_date


@dataclass(frozen=True)
class OfferLink:
    """A valid reminder link: the account it was sent to, the offer as stored now, the expiry the
    e-mail showed (« » for none)."""

    account: User
    opportunity: Opportunity
    expiry_shown: str


@dataclass(frozen=True)
class LinkOutcome:
    """What confirming a link did, in French; ``changed`` is False when nothing was left to do."""

    changed: bool
    message: str
    opportunity: Opportunity


def offer_link(engine: Engine, secret_key: str | None, purpose: LinkPurpose, token: str) -> OfferLink:
    """Read a reminder link: InvalidToken (forged, expired, revoked account), NotFound or
    OutOfScope (the offer is no longer the account's to edit)."""
    claims = read_link(secret_key, purpose, token)
    account = next(
        (user for user in engine.accounts() if str(user.account_id) == claims["account"] and user.active),
        None,
    )
    if account is None:
        raise InvalidToken(f"ce lien {purpose.name} ne vaut plus : le compte qui l'a reçu a été révoqué")
    return OfferLink(account, engine.editable(claims["offer"], actor=account), claims["expires"])


def prolong_refusal(link: OfferLink) -> str | None:
    """Why « Prolonger » would change nothing now, or None."""
    offer = link.opportunity
    if offer.status != "published":
        return (
            f"« {offer.title} » n'est plus publiée : rien n'a été prolongé. Republiez-la depuis vos offres."
        )
    if str(offer.expires_on or "") != link.expiry_shown:
        now = f"elle est au {long_date(offer.expires_on)}" if offer.expires_on else "elle n'en a plus"
        return (
            f"L'expiration de « {offer.title} » a déjà changé depuis l'e-mail ({now}) : rien n'a été modifié."
        )
    return None


def archive_refusal(link: OfferLink) -> str | None:
    """Why « Archiver » would change nothing now, or None."""
    if link.opportunity.status == "archived":
        return f"« {link.opportunity.title} » était déjà archivée : rien n'a changé."
    return None


def prolong_by_link(
    engine: Engine, secret_key: str | None, token: str, today: date | None = None
) -> LinkOutcome:
    """Prolong the offer a « Prolonger » link names, unless its expiry changed since the e-mail."""
    link = offer_link(engine, secret_key, PROLONG_LINK, token)
    if refusal := prolong_refusal(link):
        return LinkOutcome(False, refusal, link.opportunity)
    prolonged = engine.prolong(link.opportunity.id, actor=link.account, today=today)
    expires = long_date(prolonged.expires_on) if prolonged.expires_on else ""
    return LinkOutcome(
        True, f"C'est fait : « {prolonged.title} » reste en ligne jusqu'au {expires}.", prolonged
    )


def archive_by_link(engine: Engine, secret_key: str | None, token: str) -> LinkOutcome:
    """Archive the offer an « Archiver » link names (nothing to do if it already is)."""
    link = offer_link(engine, secret_key, ARCHIVE_LINK, token)
    if refusal := archive_refusal(link):
        return LinkOutcome(False, refusal, link.opportunity)
    archived = engine.archive(link.opportunity.id, actor=link.account)
    return LinkOutcome(
        True,
        f"C'est fait : « {archived.title} » est archivée et n'est plus proposée aux porteurs de projet. "
        "Elle reste enregistrée : vous pouvez la republier depuis vos offres.",
        archived,
    )
