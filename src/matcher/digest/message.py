"""The digest e-mail: multipart text and HTML, in French, from the Jinja2 templates.

Everything quoted comes from the engine's match (reasons, distance) or from the record
(title, place, price). An opportunity's ``contact_email`` never reaches a template: the
holder is pointed to their counsellor, or to the territory by name. Each offer carries a signed
« Ça m'intéresse » link (``INTEREST_PATH``), whose page asks before it records anything.
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from matcher.clock import utcnow
from matcher.config import Settings
from matcher.digest.selection import HolderDigest, Suggestion
from matcher.digest.tokens import INTEREST_LINK, make_token, sign_link
from matcher.domain import KIND_LABELS
from matcher.explain import department_label, euros, long_date
from matcher.geo import short_name

MAX_REASONS = 2
HEADERS_POLICY = email.policy.default.clone(max_line_length=998)
UNSUBSCRIBE_PATH = "/v1/unsubscribe"
#: The page behind « Ça m'intéresse » (service.web.links).
INTEREST_PATH = "/interet"


class UnusableAddress(ValueError):
    """A holder's e-mail address cannot be written in a header."""


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("matcher", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def subject(count: int) -> str:
    if count == 1:
        return "1 nouvelle opportunité à la campagne pour votre projet"
    return f"{count} nouvelles opportunités à la campagne pour votre projet"


def intro(count: int, first: bool, since: datetime) -> str:
    """The opening sentence: how many offers, new since when."""
    offers = "une offre publiée ou mise à jour" if count == 1 else f"{count} offres publiées ou mises à jour"
    when = "ces sept derniers jours" if first else f"depuis notre envoi du {long_date(since)}"
    verb = "correspond" if count == 1 else "correspondent"
    return f"Voici {offers} {when} qui {verb} à votre projet et à vos critères :"


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{urlencode({'token': token})}"


def page_url(settings: Settings, path: str, token: str) -> str:
    """The public address of a page that confirms a signed link's action."""
    return f"{settings.public_url.rstrip('/')}{path}?{urlencode({'jeton': token})}"


def price_figure(suggestion: Suggestion) -> str:
    opportunity = suggestion.opportunity
    price = opportunity.price_eur
    if opportunity.kind == "coworking":
        return "Tarif non communiqué" if price is None else f"Poste de travail : {euros(price)} par mois"
    if opportunity.kind == "takeover":
        return "Prix non communiqué" if price is None else f"Prix demandé : {euros(price)}"
    if price is None:
        return "Investissement de départ non communiqué"
    if price == 0:
        return "Aucun investissement de départ demandé"
    return f"Investissement de départ : {euros(price)}"


def distance_figure(suggestion: Suggestion, holder_origin: str | None) -> str | None:
    distance = suggestion.match.distance_km
    if distance is None:
        return None
    return f"À {distance:.0f} km de {short_name(holder_origin)}" if holder_origin else f"À {distance:.0f} km"


def key_figures(suggestion: Suggestion, holder_origin: str | None) -> list[str]:
    figures = [price_figure(suggestion)]
    revenue = suggestion.opportunity.revenue_eur
    if suggestion.opportunity.kind == "takeover" and revenue is not None:
        figures.append(f"Chiffre d'affaires : {euros(revenue)}")
    distance = distance_figure(suggestion, holder_origin)
    if distance:
        figures.append(distance)
    return figures


#: Reasons whose figure the e-mail already shows (distance and coworking price in the figures,
#: place in the heading): they are left out of the list.
REPEATED_IN_FIGURES = {"distance", "desk_price", "location"}
#: The kind is in the heading already: its reason comes last, used only to fill in.
FILLER_REASONS = {"kind_sought"}
#: An unknown price is said in the figures: its warning is left out.
WARNINGS_IN_FIGURES = {"price_unknown"}


def item_context(suggestion: Suggestion, holder_origin: str | None, interest_url: str) -> dict[str, object]:
    match, opportunity = suggestion.match, suggestion.opportunity
    location = opportunity.location
    reasons = [r for r in match.reasons if r.code not in REPEATED_IN_FIGURES]
    reasons = sorted(reasons, key=lambda r: r.code in FILLER_REASONS)[:MAX_REASONS]
    reasons = reasons or match.reasons[:MAX_REASONS]  # each offer says why, even if it repeats
    warnings = [w for w in match.warnings if w.code not in WARNINGS_IN_FIGURES]
    return {
        "rank": match.rank,
        "title": opportunity.title,
        "commune": location.commune,
        "department": department_label(location.department),
        "kind": KIND_LABELS[opportunity.kind],
        "territory": opportunity.territory,
        "figures": key_figures(suggestion, holder_origin),
        "reasons": [r.text for r in reasons],
        "warning": warnings[0].text if warnings else None,
        "reference": opportunity.id,
        "interest_url": interest_url,
    }


def counsellor_context(digest: HolderDigest) -> dict[str, str | None] | None:
    counsellor = digest.holder.counsellor
    if counsellor is None or not counsellor.email:
        return None
    return {"name": counsellor.name, "organisation": counsellor.organisation, "email": counsellor.email}


def message_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "matcher.invalid"


def new_message(
    settings: Settings, subject: str, to: tuple[str | None, str | None], idstring: str, now: datetime
) -> EmailMessage:
    """A message's headers (matcher's e-mails are all automatic); ``to`` is (name, address),
    UnusableAddress when the address cannot be written in a header."""
    name, address = to
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    try:
        message["To"] = Address(display_name=name or "", addr_spec=address)
    except (ValueError, IndexError, TypeError) as error:
        raise UnusableAddress(f"adresse e-mail inutilisable ({address!r}) : {error}") from None
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = make_msgid(idstring=idstring, domain=message_domain(settings.mail_from))
    message["Auto-Submitted"] = "auto-generated"
    return message


def with_bodies(
    message: EmailMessage, template: str, context: Mapping[str, object], html: bool = True
) -> None:
    """Give ``message`` its French text part (``template``.txt.j2) and, with ``html``, its HTML
    alternative (``template``.html.j2); add the headers last."""
    env = templates()
    text = env.get_template(f"{template}.txt.j2").render(context)
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html:
        page = env.get_template(f"{template}.html.j2").render(context)
        message.add_alternative(page, subtype="html", charset="utf-8", cte="quoted-printable")
    message["Content-Language"] = "fr"  # after the parts: set_content clears Content-* headers
    # The bodies are encoded by now (76-character lines); from here on the policy only folds
    # headers, and a long link in a header (List-Unsubscribe) must stay one piece, not RFC 2047 words.
    message.policy = HEADERS_POLICY


@dataclass(frozen=True)
class Composer:
    """Builds the e-mail of one digest; ``secret_key`` signs its unsubscribe and interest links."""

    settings: Settings
    secret_key: str

    def compose(self, digest: HolderDigest, run_id: int, now: datetime | None = None) -> EmailMessage:
        holder = digest.holder
        now = now or utcnow()
        count = len(digest.suggestions)
        origin = holder.origin.commune if holder.origin else None
        unsubscribe = unsubscribe_url(self.settings, make_token(self.secret_key, holder.key))
        items = [
            item_context(s, origin, self.interest_url(holder.key, s.opportunity.id, now))
            for s in digest.suggestions
        ]
        context = {
            "name": holder.name,
            "count": count,
            "subject": subject(count),
            "intro": intro(count, digest.first, digest.since),
            "items": items,
            "counsellor": counsellor_context(digest),
            "unsubscribe_url": unsubscribe,
        }
        message = new_message(
            self.settings, subject(count), (holder.name, holder.email), f"digest.{run_id}", now
        )
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        with_bodies(message, "digest", context)
        return message

    def interest_url(self, holder_id: str, opportunity_id: str, now: datetime) -> str:
        """The « Ça m'intéresse » link of one offer in one holder's e-mail."""
        token = sign_link(self.secret_key, INTEREST_LINK, {"holder": holder_id, "offer": opportunity_id}, now)
        return page_url(self.settings, INTEREST_PATH, token)
