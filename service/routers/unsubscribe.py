"""Unsubscribing from the weekly digest: the link in every e-mail, and mail clients' one-click.

No account is needed: the signed token in the link is the authority. GET is what a person's
click sends; POST is RFC 8058's one-click (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``),
sent by the mail client to the same address. Both answer HTML, or JSON when the client asks.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from matcher.digest.tokens import DigestNotConfigured, InvalidToken, unsubscribe
from service.auth import EngineDep
from service.schemas import error_responses

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
    200: {"description": "Désinscription faite (ou déjà faite).", "content": _content(UnsubscribeOut)},
    400: {"description": "Jeton invalide, modifié ou incomplet.", "content": _content(UnsubscribeError)},
    503: {
        "description": "Service non configuré (clé secrète absente).",
        "content": _content(UnsubscribeError),
    },
}

PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:Arial,Helvetica,sans-serif;max-width:560px;margin:48px auto;padding:0 16px;">
<h1 style="font-size:22px;">{title}</h1><p style="font-size:16px;line-height:1.5;">{message}</p></body></html>
"""


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
    return HTMLResponse(PAGE.format(title=escape(title), message=escape(message)), status_code=status)


def _unsubscribe(request: Request, engine: EngineDep, token: str) -> Response:
    try:
        outcome = unsubscribe(engine, engine.settings.secret_key, token)
    except InvalidToken as error:
        reason = str(error)
        message = f"{reason[:1].upper()}{reason[1:]}. Vos préférences n'ont pas changé."
        return _answer(request, 400, "Lien de désinscription invalide", message, None)
    except DigestNotConfigured:
        log.warning("unsubscribe link refused: MATCHER_SECRET_KEY is not set")
        message = (
            "La désinscription est indisponible : le service n'a pas sa clé secrète "
            "(MATCHER_SECRET_KEY), qui vérifie les liens. Répondez à l'e-mail pour être "
            "désinscrit·e, ou réessayez plus tard."
        )
        return _answer(request, 503, "Désinscription indisponible", message, None)
    return _answer(request, 200, "Désinscription", outcome.message, True)


@router.get(
    "/v1/unsubscribe",
    responses=RESPONSES,
    response_class=Response,
    summary="Se désinscrire (lien de l'e-mail)",
)
def unsubscribe_link(request: Request, engine: EngineDep, token: TokenQuery) -> Response:
    """Se désinscrire des suggestions hebdomadaires (lien de l'e-mail)."""
    return _unsubscribe(request, engine, token)


@router.post(
    "/v1/unsubscribe",
    responses=RESPONSES,
    response_class=Response,
    summary="Se désinscrire en un clic (RFC 8058)",
)
def unsubscribe_one_click(request: Request, engine: EngineDep, token: TokenQuery) -> Response:
    """Désinscription en un clic (RFC 8058), envoyée par le logiciel de messagerie."""
    return _unsubscribe(request, engine, token)
