"""One-off e-mails the service sends on a person's action: a territory officer's proposal to
put a holder in touch, sent to the holder's counsellor (never to the holder, never revealing
the holder to the officer: the counsellor asks the holder first).

Sent through the digest's transports: SMTP as configured, or ``.eml`` files in
``MATCHER_OUTBOX`` (a demo, a test) when it is set.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from matcher.accounts import User
from matcher.clock import utcnow
from matcher.config import Settings
from matcher.digest.message import message_domain
from matcher.digest.sending import DirectoryTransport, Refused, SmtpTransport, Transport, TransportFailed
from matcher.domain import KIND_LABELS, ContactProposal
from matcher.engine import Engine
from matcher.errors import NoticeNotSent

log = logging.getLogger(__name__)

#: A person waits for this page: a mail server that does not answer in time is reported.
TIMEOUT_S = 20


def transport(settings: Settings) -> Transport:
    """Where the service's one-off e-mails go."""
    if settings.outbox is not None:
        return DirectoryTransport(settings.outbox)
    return SmtpTransport(settings, timeout=TIMEOUT_S)


def proposal_message(settings: Settings, proposal: ContactProposal) -> EmailMessage:
    """The counsellor's e-mail: who proposes what, for which of their clients, and what to do."""
    offer, holder = proposal.opportunity, proposal.holder
    place = offer.location.commune or offer.territory
    who = holder.name or "votre porteur·se de projet"
    reply = (
        f"Si {who} est d'accord, répondez à {proposal.officer_email} pour organiser la rencontre."
        if proposal.officer_email
        else f"Si {who} est d'accord, contactez le territoire « {offer.territory} »."
    )
    text = "\n".join(
        [
            "Bonjour,",
            "",
            f"{proposal.officer_name}, pour le territoire « {offer.territory} », propose une mise en "
            f"relation entre {who} (que vous accompagnez) et l'offre suivante :",
            "",
            f"  {offer.title}",
            f"  {KIND_LABELS[offer.kind].capitalize()} à {place}",
            "",
            "Le territoire ne connaît ni le nom ni l'adresse de la personne : il a vu son projet sous "
            "un pseudonyme, parce qu'elle accepte que les territoires le voient. Parlez-lui de "
            "l'offre ; c'est elle qui décide.",
            "",
            reply,
            "",
            f"Profil de la personne dans matcher : {settings.public_url.rstrip('/')}/porteurs/{holder.key}",
            "",
            "matcher",
        ]
    )
    message = EmailMessage()
    message["Subject"] = f"Proposition de mise en relation : {offer.title}"[:200]
    message["From"] = settings.mail_from
    message["To"] = ", ".join(proposal.counsellor_emails)
    if proposal.officer_email:
        message["Reply-To"] = proposal.officer_email
    message["Date"] = format_datetime(utcnow().astimezone(UTC))
    message["Message-ID"] = make_msgid(idstring="proposal", domain=message_domain(settings.mail_from))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message["Content-Language"] = "fr"
    return message


def propose_contact(
    engine: Engine, opportunity_id: str, pseudonym: str, actor: User | None
) -> ContactProposal:
    """Propose a contact with a candidate and e-mail the holder's counsellor; the proposal is
    kept only once the server accepted the message (NoticeNotSent otherwise)."""
    proposal = engine.propose_contact(opportunity_id, pseudonym, actor)
    outgoing = transport(engine.settings)
    try:
        outgoing.send(proposal_message(engine.settings, proposal), f"mise-en-relation-{secrets.token_hex(4)}")
    except (Refused, TransportFailed) as error:
        engine.withdraw_proposal(proposal)
        log.warning("contact proposal not sent: %s", type(error).__name__)
        raise NoticeNotSent(
            "le message au conseiller ou à la conseillère n'a pas pu partir ; la mise en relation "
            "n'est pas enregistrée, réessayez plus tard"
        ) from None
    finally:
        outgoing.close()
    return proposal
