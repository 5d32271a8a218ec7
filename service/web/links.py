"""The pages behind the signed links of matcher's e-mails: « Ça m'intéresse » (holders'
digest), « Prolonger de 6 mois » and « Archiver » (officers' reminders).

No session: the signed token in the address is the authority (and, in the form's action, what
protects the POST as a CSRF token would). A GET only shows what the button will do, because
mail scanners and link previews follow links; only the button's POST changes anything. The
pages are neither cached nor sent as a referrer, so that the token stays in the e-mail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from matcher import reminders
from matcher.digest.interest import ALREADY, declare_interest, interest_link
from matcher.digest.message import INTEREST_PATH
from matcher.digest.tokens import (
    ARCHIVE_LINK,
    PROLONG_LINK,
    DigestNotConfigured,
    ExpiredLink,
    InvalidToken,
    LinkPurpose,
)
from matcher.engine import Engine
from matcher.explain import long_date
from matcher.freshness import PROLONG_MONTHS, prolonged_expiry
from matcher.reminders.message import ARCHIVE_PATH, PROLONG_PATH
from service.auth import EngineDep
from service.web.rendering import render

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Query(min_length=1, max_length=1000, description="Jeton signé du lien de l'e-mail.")]
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
OFFERS = ("/offres", "Voir les offres de mon territoire")


def link_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page of a signed link: what its button will do (``button``, ``action``, ``explanation``)
    or what was done (``message``, ``ok``); not cached, its address never sent as a referrer."""
    for name in ("opportunity", "message", "button", "follow"):
        context.setdefault(name, None)
    context.setdefault("explanation", [])
    response = render(request, "liens/page.html", status_code, **context)
    response.headers.update(PRIVATE)
    return response


def confirmation(request: Request, token: str, **context: Any) -> HTMLResponse:
    """The page that shows what the button will do; the button POSTs to this same address."""
    action = f"{request.url.path}?{urlencode({'jeton': token})}"
    return link_page(request, action=action, **context)


def outcome(request: Request, title: str, message: str, ok: bool = True, **context: Any) -> HTMLResponse:
    return link_page(request, title=title, message=message, ok=ok, **context)


def refused_link(request: Request, error: InvalidToken | DigestNotConfigured) -> HTMLResponse:
    """A forged, expired or unusable link: said in French, nothing changed."""
    if isinstance(error, DigestNotConfigured):
        message = (
            "Ce lien ne peut pas être vérifié : le service n'a pas sa clé secrète (MATCHER_SECRET_KEY). "
            "Rien n'a changé ; réessayez plus tard."
        )
        return outcome(request, "Lien indisponible", message, ok=False, status_code=503)
    reason = str(error)
    title, status = ("Lien expiré", 410) if isinstance(error, ExpiredLink) else ("Lien invalide", 400)
    message = f"{reason[:1].upper()}{reason[1:]}. Rien n'a changé."
    return outcome(request, title, message, ok=False, status_code=status)


def checked(request: Request, read: Callable[[], HTMLResponse]) -> HTMLResponse:
    """``read()``'s page, or the page of a link that cannot be used."""
    try:
        return read()
    except (InvalidToken, DigestNotConfigured) as error:
        return refused_link(request, error)


# --- « Ça m'intéresse » ------------------------------------------------------------------------


@router.get(INTEREST_PATH)
def interest_form(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    def page() -> HTMLResponse:
        link = interest_link(engine, engine.settings.secret_key, jeton)
        context: dict[str, Any] = {"opportunity": link.opportunity}
        if link.problem:
            return outcome(request, "Offre indisponible", link.problem, ok=False, **context)
        if link.already:
            return outcome(request, "Déjà noté", ALREADY, **context)
        explanation = [
            "En confirmant, vous indiquez que cette offre vous intéresse : c'est noté dans votre dossier et "
            "la personne qui vous accompagne dans votre projet est prévenue par e-mail, pour en parler "
            "avec vous et vous mettre en relation avec le territoire si le projet s'y prête.",
            "Le territoire sait seulement qu'une personne s'y intéresse, pas qui.",
        ]
        return confirmation(
            request,
            jeton,
            title="Cette offre vous intéresse ?",
            explanation=explanation,
            button="Oui, ça m'intéresse",
            **context,
        )

    return checked(request, page)


@router.post(INTEREST_PATH)
def interest(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    def page() -> HTMLResponse:
        done = declare_interest(engine, engine.settings, jeton)
        title = {"recorded": "Intérêt noté", "already": "Déjà noté"}.get(done.state, "Offre indisponible")
        return outcome(
            request, title, done.message, ok=done.state != "unavailable", opportunity=done.opportunity
        )

    return checked(request, page)


# --- « Prolonger de 6 mois » and « Archiver » ----------------------------------------------------


def offer_facts(link: reminders.OfferLink) -> list[str]:
    offer = link.opportunity
    expiry = f"Expire le {long_date(offer.expires_on)}." if offer.expires_on else "Sans date d'expiration."
    return [expiry if offer.status == "published" else "Archivée : elle n'est plus proposée."]


def confirmed(request: Request, title: str, act: Callable[[], reminders.LinkOutcome]) -> HTMLResponse:
    """The page after a reminder link's button: what ``act`` did (``title`` if it changed anything)."""

    def page() -> HTMLResponse:
        done = act()
        return outcome(
            request,
            title if done.changed else "Rien à faire",
            done.message,
            opportunity=done.opportunity,
            follow=OFFERS,
        )

    return checked(request, page)


def reminder_question(
    request: Request,
    engine: Engine,
    purpose: LinkPurpose,
    token: str,
    refusal: Callable[[reminders.OfferLink], str | None],
    question: Callable[[reminders.OfferLink], dict[str, Any]],
) -> HTMLResponse:
    """The page of a reminder link: the offer, and ``question``'s title, explanation and button,
    or why there is nothing left to do."""

    def page() -> HTMLResponse:
        link = reminders.offer_link(engine, engine.settings.secret_key, purpose, token)
        context: dict[str, Any] = {"opportunity": link.opportunity, "facts": offer_facts(link)}
        if problem := refusal(link):
            return outcome(request, "Rien à faire", problem, follow=OFFERS, **context)
        return confirmation(request, token, **question(link), **context)

    return checked(request, page)


def prolong_question(link: reminders.OfferLink) -> dict[str, Any]:
    until = long_date(prolonged_expiry(link.opportunity.expires_on, date.today()))
    return {
        "title": f"Prolonger l'offre de {PROLONG_MONTHS} mois ?",
        "explanation": [
            f"L'offre restera proposée aux porteurs de projet jusqu'au {until}, et elle comptera comme "
            "mise à jour aujourd'hui.",
            "Si elle a changé (prix, contact, disponibilité), modifiez-la plutôt depuis vos offres.",
        ],
        "button": f"Prolonger jusqu'au {until}",
    }


def archive_question(link: reminders.OfferLink) -> dict[str, Any]:
    return {
        "title": "Archiver l'offre ?",
        "explanation": [
            "L'offre ne sera plus proposée aux porteurs de projet, ni dans les recherches des conseillers "
            "ni dans les e-mails de suggestions.",
            "Elle reste enregistrée : vous pourrez la republier depuis vos offres.",
        ],
        "button": "Archiver l'offre",
        "danger": True,
    }


@router.get(PROLONG_PATH)
def prolong_form(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    return reminder_question(
        request, engine, PROLONG_LINK, jeton, reminders.prolong_refusal, prolong_question
    )


@router.post(PROLONG_PATH)
def prolong(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    return confirmed(
        request,
        "Offre prolongée",
        lambda: reminders.prolong_by_link(engine, engine.settings.secret_key, jeton),
    )


@router.get(ARCHIVE_PATH)
def archive_form(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    return reminder_question(
        request, engine, ARCHIVE_LINK, jeton, reminders.archive_refusal, archive_question
    )


@router.post(ARCHIVE_PATH)
def archive(request: Request, engine: EngineDep, jeton: Token) -> HTMLResponse:
    return confirmed(
        request,
        "Offre archivée",
        lambda: reminders.archive_by_link(engine, engine.settings.secret_key, jeton),
    )
