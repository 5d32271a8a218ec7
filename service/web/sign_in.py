"""``/connexion`` and ``/deconnexion``: signing in to the pages with an e-mail and a password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from matcher.accounts import Role
from matcher.errors import SignInRefused
from service.auth import EngineDep
from service.web.rendering import render
from service.web.session import (
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    SignedIn,
    check_csrf,
    open_session,
    same_token,
    set_cookie,
    sign_in_token,
)

router = APIRouter(include_in_schema=False)

#: Where each role lands after signing in.
HOME_PAGES = {Role.counsellor: "/porteurs", Role.admin: "/porteurs", Role.officer: "/offres"}


def _safe_next(then: str | None) -> str | None:
    # Only a path on this site: never an address elsewhere (an open redirect).
    path = unquote(then or "")
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else None


def _sign_in_page(request: Request, status_code: int = 200, **context: object) -> HTMLResponse:
    token = sign_in_token(request)
    response = render(request, "connexion.html", status_code, sign_in_csrf=token, **context)
    set_cookie(response, request.app.state.settings, SIGN_IN_CSRF_COOKIE, token, 3600)
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/connexion", status_code=303)


@router.get("/connexion")
def sign_in_form(request: Request, suite: str | None = None, deconnecte: str | None = None) -> HTMLResponse:
    return _sign_in_page(request, suite=_safe_next(suite) or "", email="", signed_out=bool(deconnecte))


@router.post("/connexion")
async def sign_in(
    request: Request,
    engine: EngineDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    suite: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    context = {"suite": _safe_next(suite) or "", "email": email}
    if not same_token(request.cookies.get(SIGN_IN_CSRF_COOKIE), csrf):
        message = "La page de connexion a expiré : saisissez à nouveau votre mot de passe."
        return _sign_in_page(request, 403, error=message, **context)
    if not email.strip() or not password:
        return _sign_in_page(
            request, 422, error="Saisissez votre adresse e-mail et votre mot de passe.", **context
        )
    try:
        web_session = await run_in_threadpool(engine.sign_in, email, password)
    except SignInRefused as refused:
        return _sign_in_page(request, 401, error=str(refused), **context)
    then = context["suite"] or HOME_PAGES[web_session.user.role]
    response = RedirectResponse(then, status_code=303)
    open_session(response, request.app.state.settings, web_session)
    return response


@router.post("/deconnexion")
def sign_out(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    check_csrf(request, web_session, csrf)
    engine.sign_out(web_session.token)
    response = RedirectResponse("/connexion?deconnecte=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
