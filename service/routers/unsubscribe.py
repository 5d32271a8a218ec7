"""Unsubscribing from the weekly digest: the link in every e-mail, and mail clients' one-click.

No account is needed: the signed token in the link is the authority. GET (a person's click, but
also a mail scanner's or a link preview's) changes nothing: it shows a page whose button POSTs
to the same address. POST unsubscribes: that button, or RFC 8058's one-click
(``List-Unsubscribe-Post: List-Unsubscribe=One-Click``) sent by the mail client. Both answer
HTML, or JSON when the client asks.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from matcher.digest.message import UNSUBSCRIBE_PATH
from matcher.digest.tokens import DigestNotConfigured, InvalidToken, holder_from_token, unsubscribe
from service.auth import EngineDep
from service.schemas import error_responses
from service.web.links import link_page, outcome

router = APIRouter(tags=["désinscription"])
log = logging.getLogger("matcher.service")

TokenQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1000,
        description="Jeton signé du lien de désinscription reçu par e-mail.",
    ),
]


class UnsubscribeOut(BaseModel):
    """The outcome, in French; ``unsubscribed`` is true once the holder receives no more digests."""

    unsubscribed: bool
    message: str


class UnsubscribeError(BaseModel):
    detail: str


def _content(model: type[BaseModel]) -> dict[str, object]:
    return {
        "application/json": {"schema": model.model_json_schema()},
        "text/html": {"schema": {"type": "string"}},
    }


RESPONSES: dict[int | str, dict[str, object]] = {
    **error_responses(413, 422),
    200: {
        "description": "GET : la page qui demande confirmation (en JSON, l'état actuel) ; POST : "
        "désinscription faite (ou déjà faite).",
        "content": _content(UnsubscribeOut),
    },
    400: {"description": "Jeton invalide, modifié ou incomplet.", "content": _content(UnsubscribeError)},
    503: {
        "description": "Service non configuré (clé secrète absente).",
        "content": _content(UnsubscribeError),
    },
}


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _answer(request: Request, status: int, title: str, message: str, unsubscribed: bool | None) -> Response:
    if _wants_json(request):
        body = (
            {"detail": message}
            if unsubscribed is None
            else {"unsubscribed": unsubscribed, "message": message}
        )
        return JSONResponse(body, status_code=status)
    return outcome(request, title, message, ok=unsubscribed is not None, status_code=status)


def _refused(request: Request, error: Exception) -> Response:
    if isinstance(error, DigestNotConfigured):
        log.warning("unsubscribe link refused: MATCHER_SECRET_KEY is not set")
        message = (
            "La désinscription est indisponible : le service n'a pas sa clé secrète "
            "(MATCHER_SECRET_KEY), qui vérifie les liens. Répondez à l'e-mail pour être "
            "désinscrit·e, ou réessayez plus tard."
        )
        return _answer(request, 503, "Désinscription indisponible", message, None)
    reason = str(error)
    message = f"{reason[:1].upper()}{reason[1:]}. Vos préférences n'ont pas changé."
    return _answer(request, 400, "Lien de désinscription invalide", message, None)


def _confirmation(request: Request, engine: EngineDep, token: str) -> Response:
    """What the button will do; nothing changes (mail scanners follow links)."""
    try:
        holder_id = holder_from_token(engine.settings.secret_key, token)
    except (InvalidToken, DigestNotConfigured) as error:
        return _refused(request, error)
    if not engine.digest_opted_in(holder_id):
        return _answer(request, 200, "Désinscription", ALREADY_OUT, True)
    if _wants_json(request):
        return JSONResponse({"unsubscribed": False, "message": CONFIRM})
    action = f"{UNSUBSCRIBE_PATH}?{urlencode({'token': token})}"
    explanation = [
        "Vous ne recevrez plus l'e-mail hebdomadaire des nouvelles offres adaptées à votre projet.",
        "La personne qui vous accompagne pourra vous réinscrire si vous le lui demandez.",
    ]
    return link_page(
        request,
        title="Ne plus recevoir les suggestions ?",
        explanation=explanation,
        button="Me désinscrire",
        action=action,
    )


def _unsubscribe(request: Request, engine: EngineDep, token: str) -> Response:
    try:
        done = unsubscribe(engine, engine.settings.secret_key, token)
    except (InvalidToken, DigestNotConfigured) as error:
        return _refused(request, error)
    return _answer(request, 200, "Désinscription", done.message, True)


ALREADY_OUT = "Vous étiez déjà désinscrit·e : vous ne recevez plus les suggestions hebdomadaires."
CONFIRM = "Rien n'a changé : pour vous désinscrire, envoyez POST à cette même adresse."


@router.get(
    UNSUBSCRIBE_PATH,
    responses=RESPONSES,
    response_class=Response,
    summary="Page de désinscription (lien de l'e-mail), sans effet",
)
def unsubscribe_link(request: Request, engine: EngineDep, token: TokenQuery) -> Response:
    """La page du lien de l'e-mail : elle demande confirmation et ne change rien (les robots des
    messageries suivent les liens) ; en JSON, l'état actuel."""
    return _confirmation(request, engine, token)


@router.post(
    UNSUBSCRIBE_PATH,
    responses=RESPONSES,
    response_class=Response,
    summary="Se désinscrire : bouton de la page, ou un clic du logiciel de messagerie (RFC 8058)",
)
def unsubscribe_one_click(request: Request, engine: EngineDep, token: TokenQuery) -> Response:
    """Se désinscrire : le bouton de la page, ou le clic unique (RFC 8058) du logiciel de messagerie."""
    return _unsubscribe(request, engine, token)
