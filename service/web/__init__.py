"""The pages: server-rendered over the engine (Jinja2 templates, htmx, static files served from
this package), beside the API's routes.

rendering    templates and their French filters
session      the session cookie, CSRF, the roles let through
forms        the holder form, read like a spreadsheet's cells
offer_form   the offer form, read the same way
sign_in      /connexion, /deconnexion
holders      /porteurs… (counsellors)
offers       /offres… (territory officers)
suggestions  /suggestions/communes while typing (any signed-in person)
links        the pages behind the e-mails' signed links: /interet, /rappels/…
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.web.rendering import render
from service.web.session import PageRefused, SignInNeeded

STATIC = Path(__file__).parent / "static"
#: Paths that belong to the API, whose errors stay JSON.
API_PREFIXES = ("/v1/", "/healthz", "/docs", "/openapi.json", "/static")


def is_page(request: Request) -> bool:
    """Whether a request is for a page (whose errors are pages too) rather than the API."""
    return not request.url.path.startswith(API_PREFIXES)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An error as a page: what happened, in French, and a way back."""
    return render(request, "erreur.html", status_code, status=status_code, message=message)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    target = f"/connexion?suite={exc.then}" if exc.then else "/connexion"
    if request.headers.get("hx-request"):
        # htmx follows redirects inside the page: ask it to load the sign-in page instead.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _page_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    return error_page(request, exc.status_code, exc.message)


def content_policy(map_tiles: str | None) -> str:
    """The pages' Content-Security-Policy: scripts and styles from this site only (Leaflet and
    the score bars set inline styles), images from here and the tile server, nothing framed."""
    tiles = ""
    if map_tiles:
        parts = urlsplit(map_tiles)
        tiles = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:{tiles}; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    )


class PagePolicy:
    """ASGI middleware adding the Content-Security-Policy (and no-sniff) to every page."""

    def __init__(self, app: ASGIApp, policy: str):
        self.app = app
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith("/v1/"):  # the JSON API
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if str(scope["path"]).startswith(("/docs", "/redoc")):
                    headers.setdefault("X-Content-Type-Options", "nosniff")
                else:
                    headers["Content-Security-Policy"] = self.policy.decode()
                    headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_policy)


def install(app: FastAPI) -> None:
    """Mount the static files and add the pages' routes to ``app``."""
    from service.web import holders, links, offers, sign_in, suggestions

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(PagePolicy, policy=content_policy(app.state.settings.map_tiles))
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(PageRefused, _page_refused)
    for module in (sign_in, holders, offers, suggestions, links):
        app.include_router(module.router)
