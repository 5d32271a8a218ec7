"""« Ça m'intéresse » from the weekly e-mail: the holder's interest recorded, their counsellor told.

Each offer of a digest carries a signed link (``INTEREST_LINK``: holder, offer, expiry). Its page
shows the offer and a button: following the link changes nothing (mail scanners follow links);
the button's POST calls ``declare_interest``, which records the holder's feedback
``interested`` on the offer (counted for the territory's officer, never who) and e-mails the
holder's counsellor(s) (``Engine.counsellor_emails``, as for an officer's proposal of contact),
through the service's one-off transport (``matcher.notices``). Declaring twice records and
tells once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from typing import Literal

from matcher.clock import utcnow
from matcher.config import Settings
from matcher.digest.message import UnusableAddress, new_message, with_bodies
from matcher.digest.sending import Refused, Transport, TransportFailed
from matcher.digest.tokens import INTEREST_LINK, read_link
from matcher.domain import KIND_LABELS, HolderProfile, Opportunity
from matcher.engine import Engine
from matcher.errors import NotFound
from matcher.explain import department_label
from matcher.notices import transport as notice_transport

log = logging.getLogger("matcher.digest")

#: The comment kept with the feedback: the counsellor's history tells it came from the holder.
FROM_THE_EMAIL = "« Ça m'intéresse » depuis l'e-mail de suggestions"


@dataclass(frozen=True)
class InterestLink:
    """What a valid link names, as stored now; ``problem`` says why nothing can be recorded."""

    holder: HolderProfile | None
    opportunity: Opportunity | None
    problem: str | None = None
    already: bool = False


def interest_link(
    engine: Engine, secret_key: str | None, token: str, today: date | None = None
) -> InterestLink:
    """Read a « Ça m'intéresse » link (InvalidToken, ExpiredLink) and what it names; changes nothing."""
    claims = read_link(secret_key, INTEREST_LINK, token)
    try:
        holder = engine.holder(claims["holder"])
    except NotFound:
        return InterestLink(None, None, "Ce profil n'existe plus : rien n'a été enregistré.")
    try:
        opportunity = engine.opportunity(claims["offer"])
    except NotFound:
        return InterestLink(holder, None, "Cette offre n'existe plus : rien n'a été enregistré.")
    today = today or date.today()
    if opportunity.status != "published" or (opportunity.expires_on and opportunity.expires_on < today):
        problem = (
            "Cette offre n'est plus proposée par le territoire (pourvue, retirée ou expirée) : rien n'a "
            "été enregistré. Les prochaines suggestions vous en proposeront d'autres."
        )
        return InterestLink(holder, opportunity, problem)
    already = any(
        f.opportunity_id == opportunity.id and f.verdict == "interested" for f in engine.feedback(holder)
    )
    return InterestLink(holder, opportunity, already=already)


ALREADY = "Votre intérêt pour cette offre est déjà noté : la personne qui vous accompagne le sait."


@dataclass(frozen=True)
class InterestOutcome:
    """What declaring did (``state``: recorded now, already recorded, or the offer or profile
    is gone), in French, and which counsellors were told."""

    state: Literal["recorded", "already", "unavailable"]
    message: str
    opportunity: Opportunity | None
    told: list[str] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        return self.state == "recorded"


def interest_message(
    settings: Settings, holder: HolderProfile, opportunity: Opportunity, address: str, now: datetime
) -> EmailMessage:
    """The short e-mail telling a counsellor that a holder they follow is interested in an offer."""
    name = holder.name or f"Le porteur de projet {holder.key}"
    context = {
        "holder": f"{holder.name} ({holder.key})" if holder.name else name,
        "title": opportunity.title,
        "kind": KIND_LABELS[opportunity.kind],
        "commune": opportunity.location.commune,
        "department": department_label(opportunity.location.department),
        "territory": opportunity.territory,
        "reference": opportunity.id,
        "holder_url": f"{settings.public_url.rstrip('/')}/porteurs/{holder.key}",
        "organisation": holder.organisation,
    }
    subject = f"{name} s'intéresse à « {opportunity.title} »"
    message = new_message(settings, subject, (None, address), "interest", now)
    with_bodies(message, "interest", context, html=False)
    return message


def declare_interest(
    engine: Engine, settings: Settings, token: str, transport: Transport | None = None
) -> InterestOutcome:
    """Record the interest a valid link names (once) and e-mail the holder's counsellor(s).

    The feedback is kept even when no e-mail can go: the counsellor sees it in the holder's
    history, and the page says whether they were told. Logs name no person.
    """
    link = interest_link(engine, settings.secret_key, token)
    if link.problem or link.holder is None or link.opportunity is None:
        return InterestOutcome("unavailable", link.problem or "", link.opportunity)
    holder, opportunity = link.holder, link.opportunity
    if link.already:
        return InterestOutcome("already", ALREADY, opportunity)
    engine.record_feedback(holder.key, opportunity.id, "interested", FROM_THE_EMAIL)
    counsellors = engine.counsellor_emails(holder)
    if not counsellors:
        log.warning(
            "interest in %s recorded; the holder has no counsellor reachable by e-mail", opportunity.id
        )
    told = _tell(settings, holder, opportunity, counsellors, transport or notice_transport(settings))
    if told:
        message = (
            "C'est noté : la personne qui vous accompagne en est prévenue par e-mail et reviendra vers vous."
        )
    else:
        message = (
            "C'est noté : votre intérêt figure dans votre dossier. Nous n'avons pas pu prévenir la personne "
            "qui vous accompagne par e-mail : parlez-lui de cette offre (notez sa référence : "
            f"{opportunity.id})."
        )
    return InterestOutcome("recorded", message, opportunity, told)


def _tell(
    settings: Settings,
    holder: HolderProfile,
    opportunity: Opportunity,
    counsellors: tuple[str, ...],
    transport: Transport,
) -> list[str]:
    told = []
    now = utcnow()
    try:
        for address in counsellors:
            try:
                transport.send(interest_message(settings, holder, opportunity, address, now), "interet")
            except Refused as error:  # its text has no address left (sending.without_addresses)
                log.warning("interest in %s: a counsellor's e-mail was refused (%s)", opportunity.id, error)
            except UnusableAddress:
                log.warning("interest in %s: a counsellor's address is unusable", opportunity.id)
            else:
                told.append(address)
    except TransportFailed as error:
        log.warning("interest in %s: the SMTP server did not answer (%s)", opportunity.id, error)
    finally:
        transport.close()
    return told
