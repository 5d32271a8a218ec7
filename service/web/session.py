"""Who is signed in to the pages: the session cookie, the CSRF check, the roles let through.

The cookie holds a random token (only its hash is stored, ``Engine.web_session``); it is
HttpOnly, SameSite=Lax, Secure when ``MATCHER_PUBLIC_URL`` is https, and ends after
``MATCHER_SESSION_IDLE_MINUTES`` without a request. Every form that changes something carries
the session's CSRF token; the sign-in form, before any session exists, a double-submit token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response

from matcher.accounts import Role, User, new_secret
from matcher.config import Settings
from matcher.engine.facade import WebSession
from service.auth import EngineDep

SESSION_COOKIE = "matcher_session"
SIGN_IN_CSRF_COOKIE = "matcher_connexion"


class SignInNeeded(Exception):
    """A page was asked for without a live session: the browser goes to the sign-in page."""

    def __init__(self, then: str):
        self.then = then


class PageRefused(Exception):
    """A page the signed-in person may not use (their role), or a form without its CSRF token."""

    def __init__(self, status_code: int, message: str):
        self.status_code = status_code
        self.message = message


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
        path="/",
    )


def open_session(response: Response, settings: Settings, web_session: WebSession) -> None:
    """Give the browser its session cookie (ends with the browser, or when idle)."""
    set_cookie(response, settings, SESSION_COOKIE, web_session.token, None)
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")


def sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the one in the browser's cookie, or a new one."""
    return request.cookies.get(SIGN_IN_CSRF_COOKIE) or new_secret()


def same_token(expected: str | None, given: str | None) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged « forgé »).
    return bool(expected and given) and hmac.compare_digest(
        str(expected).encode("utf-8"), str(given).encode("utf-8")
    )


def current_session(request: Request, engine: EngineDep) -> WebSession:
    """The live session of the request's cookie; otherwise off to the sign-in page."""
    token = request.cookies.get(SESSION_COOKIE, "")
    web_session = engine.web_session(token) if token else None
    if web_session is None:
        # After signing in, a GET goes back where it was; a form sent meanwhile is not replayed.
        then = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(quote(then, safe="/") if request.method == "GET" else "")
    request.state.web_session = web_session
    return web_session


def _allowing(roles: tuple[Role, ...], reserved: str) -> Callable[..., User]:
    """A dependency giving the signed-in account if its role is one of ``roles``; otherwise a
    403 page saying to whom the pages are ``reserved`` and which role the person has."""

    def allowed(web_session: Annotated[WebSession, Depends(current_session)]) -> User:
        user = web_session.user
        if user.role not in roles:
            raise PageRefused(403, f"{reserved} ; votre rôle : {user.role.label}.")
        return user

    return allowed


#: The signed-in counsellor (or admin): the holders' pages are theirs.
counselling = _allowing(
    (Role.counsellor, Role.admin), "Les porteurs de projet sont réservés aux conseillers et conseillères"
)
#: The signed-in territory officer (or admin): the offers' pages are theirs.
officing = _allowing(
    (Role.officer, Role.admin), "Les offres des territoires sont réservées aux agents des territoires"
)


def check_csrf(request: Request, web_session: WebSession, given: str | None) -> None:
    """Refuse a form that does not carry its session's CSRF token."""
    if not same_token(web_session.csrf, given or request.headers.get("x-csrf-token")):
        raise PageRefused(
            403,
            "Ce formulaire a expiré ou ne vient pas de matcher : rechargez la page et recommencez.",
        )


SignedIn = Annotated[WebSession, Depends(current_session)]
CounsellorPage = Annotated[User, Depends(counselling)]
OfficerPage = Annotated[User, Depends(officing)]
