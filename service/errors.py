"""The one place where errors become HTTP statuses, with a French message a person can act on.

422 for anything a client sent that breaks the contract (one message per field), 404 for an
unknown id, 409 for an id already taken or an offer resembling a live one, 413 for a body over
the limit, 403 for a record outside the account's territories (the engine checks it), 401 and
403 (roles) raised by ``service.auth``. Nothing a client sends ends in a 500.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher.domain import field_path, french_message
from matcher.errors import (
    AlreadyExists,
    InvalidFile,
    InvalidRecord,
    LocationUnresolved,
    LooksLikeDuplicate,
    MatcherError,
    NotFound,
    NoticeNotSent,
    OutOfScope,
    StoreUnavailable,
    WriteConflict,
    without_data,
)

log = logging.getLogger("matcher.service")

VALIDATION_MESSAGE = "La requête est invalide : voir le détail par champ."
_DEFAULT_DETAILS = {
    404: "ressource introuvable",
    405: "méthode non autorisée pour cette adresse",
}


class BodyTooLarge(StarletteHTTPException):
    """The request body is over ``max_upload_bytes``."""

    def __init__(self, limit: int):
        super().__init__(
            413,
            f"corps de requête trop volumineux : au plus {limit} octets "
            f"({limit / 1_000_000:.1f} Mo) ; découpez l'envoi",
        )


class BodySizeLimit:
    """ASGI middleware refusing bodies over ``max_bytes``, before anything parses them.

    The declared Content-Length is checked first; the bytes actually streamed are counted too,
    for chunked bodies and for clients that under-declare.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_too_large(send, self.max_bytes)


async def _send_too_large(send: Send, limit: int) -> None:
    response = JSONResponse({"detail": BodyTooLarge(limit).detail}, status_code=413)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


# --- validation messages -----------------------------------------------------------------------


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """'location.lat' -> ['location', 'lat']; 'tags[2]' -> ['tags', 2]."""
    return [int(index) if index else name for name, index in _PATH_PART.findall(path)]


def field_error(where: str, parts: list[str | int], message: str, kind: str) -> dict[str, Any]:
    return {"loc": [where, *parts], "field": field_path(parts), "msg": message, "type": kind}


def validation_response(errors: list[dict[str, Any]], message: str = VALIDATION_MESSAGE) -> JSONResponse:
    return JSONResponse({"message": message, "detail": errors}, status_code=422)


# --- handlers ----------------------------------------------------------------------------------


async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        where, *parts = error.get("loc") or ("body",)
        parts = [p if isinstance(p, int) else str(p) for p in parts]
        if where == "body" and not parts and error.get("type") == "missing":
            message = "corps de requête manquant (un objet JSON est attendu)"
        elif error.get("type") == "json_invalid":  # its loc is a character position, not a field
            message = f"JSON invalide (position {parts[0]})" if parts else "JSON invalide"
            parts = []
        else:
            message = french_message(error)
        errors.append(field_error(str(where), parts, message, error.get("type", "invalid")))
    return validation_response(errors)


async def _invalid_record(_: Request, exc: InvalidRecord) -> JSONResponse:
    errors = [
        field_error("body", split_path(field), message, "invalid_record") for field, message in exc.problems
    ]
    return validation_response(errors, f"Enregistrement refusé : {exc}")


async def _invalid_file(_: Request, exc: InvalidFile) -> JSONResponse:
    return validation_response(
        [field_error("body", [], str(exc), "invalid_file")], f"Envoi illisible : {exc}"
    )


async def _location_unresolved(_: Request, exc: LocationUnresolved) -> JSONResponse:
    return validation_response([field_error("body", ["location"], str(exc), "location_unresolved")])


async def _other_matcher_error(_: Request, exc: MatcherError) -> JSONResponse:
    return validation_response([field_error("body", [], str(exc), "refused")], f"Refusé : {exc}")


async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _already_exists(_: Request, exc: AlreadyExists) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _looks_like_duplicate(_: Request, exc: LooksLikeDuplicate) -> JSONResponse:
    look_alikes = [
        {"id": a.id, "title": a.title, "published": a.published.isoformat(), "similarity": a.similarity}
        for a in exc.look_alikes
    ]
    detail = f"{exc} Renvoyez la requête avec ?force=true pour la publier quand même."
    return JSONResponse({"detail": detail, "look_alikes": look_alikes}, status_code=409)


async def _out_of_scope(_: Request, exc: OutOfScope) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=403)


async def _write_conflict(_: Request, exc: WriteConflict) -> JSONResponse:
    log.info("conflit d'écriture : %s", without_data(exc))
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _database_busy(_: Request, exc: StoreUnavailable) -> JSONResponse:
    log.warning("base de données indisponible : %s", without_data(exc))
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "2"})


async def _notice_not_sent(_: Request, exc: NoticeNotSent) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "60"})


async def _http_exception(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's own "error parsing the body" (undecodable bytes, nesting too deep).
        return validation_response(
            [
                field_error(
                    "body", [], "corps de requête illisible : un JSON en UTF-8 est attendu", "body_unreadable"
                )
            ]
        )
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if detail == HTTPStatus(exc.status_code).phrase:  # Starlette's English default
        detail = _DEFAULT_DETAILS.get(exc.status_code, f"erreur HTTP {exc.status_code}")
    return JSONResponse(
        {"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # The type and place only: a traceback's messages may quote a record's values.
    log.error("erreur interne : %s", without_data(exc))
    return JSONResponse({"detail": "erreur interne du service ; elle a été journalisée"}, status_code=500)


#: Each error type and the handler that answers it; Starlette picks the most specific type.
HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]], ...] = (
    (RequestValidationError, _request_validation),
    (InvalidRecord, _invalid_record),
    (InvalidFile, _invalid_file),
    (LocationUnresolved, _location_unresolved),
    (NotFound, _not_found),
    (AlreadyExists, _already_exists),
    (LooksLikeDuplicate, _looks_like_duplicate),
    (OutOfScope, _out_of_scope),
    (WriteConflict, _write_conflict),
    (StoreUnavailable, _database_busy),
    (NoticeNotSent, _notice_not_sent),
    (MatcherError, _other_matcher_error),
    (StarletteHTTPException, _http_exception),
    (Exception, _unexpected),
)


#: Whether a request is for a page, and the page that tells its error (status, message).
PageTest = Callable[[Request], bool]
ErrorPage = Callable[[Request, int, str], Response]


def _answering_pages(
    handler: Callable[[Request, Any], Awaitable[JSONResponse]], is_page: PageTest, error_page: ErrorPage
) -> Callable[[Request, Any], Awaitable[Response]]:
    """``handler``, whose answer to a page's request is a page with the same status and message."""

    async def answer(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if not is_page(request):
            return response
        body = json.loads(bytes(response.body))
        detail = body.get("detail")
        if isinstance(detail, str):
            message = detail
        else:  # a validation answer: say what each field got wrong
            fields = "; ".join(
                f"{d['field']} : {d['msg']}" if d.get("field") else d["msg"] for d in detail or []
            )
            message = f"Demande refusée : {fields}" if fields else body.get("message", "")
        return error_page(request, response.status_code, message[:1].upper() + message[1:])

    return answer


def install_error_handlers(
    app: FastAPI, is_page: PageTest | None = None, error_page: ErrorPage | None = None
) -> None:
    """Register every mapping above on ``app``; with ``is_page`` and ``error_page``, a page's
    error is answered by a page."""
    for error, handler in HANDLERS:
        if is_page is not None and error_page is not None:
            app.add_exception_handler(error, _answering_pages(handler, is_page, error_page))
        else:
            app.add_exception_handler(error, handler)
