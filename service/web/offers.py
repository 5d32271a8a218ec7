"""The territory officers' pages: their offers, the offer form, candidates, file import.

Each route reads the request, calls the engine with the signed-in account (which scopes every
offer to its territories: another territory's offer is « introuvable », as an unknown one) and
renders a template. Candidates appear under pseudonyms with reasons written for the officer; a
proposed contact goes to the holder's counsellor by e-mail, never to the holder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from matcher.accounts import User
from matcher.domain import Opportunity, new_opportunity_id
from matcher.engine import Engine
from matcher.engine.facade import WebSession
from matcher.errors import (
    AlreadyExists,
    InvalidFile,
    InvalidRecord,
    LooksLikeDuplicate,
    NotFound,
    NoticeNotSent,
    OutOfScope,
)
from matcher.freshness import freshness
from matcher.intake import ImportReport, read_records
from matcher.notices import propose_contact
from matcher.spreadsheet import template
from service.auth import EngineDep
from service.routers import OpportunityIdPath
from service.routers.templates import FILE_NAMES
from service.web.holders import LABEL_SUGGESTIONS
from service.web.offer_form import field_errors, form_values, offer_record, submitted_values
from service.web.rendering import render
from service.web.session import OfficerPage, SignedIn, check_csrf, officing

router = APIRouter(include_in_schema=False, dependencies=[Depends(officing)])

#: How many candidates the candidates page shows.
CANDIDATES_SHOWN = 20

Csrf = Annotated[str, Form(max_length=100)]


def offer_url(opportunity_id: str) -> str:
    return f"/offres/{opportunity_id}/modifier"


def _own_offer(engine: Engine, opportunity_id: str, person: User) -> Opportunity:
    """The offer if ``person`` may edit it; another territory's offer is answered as unknown."""
    try:
        return engine.editable(opportunity_id, person)
    except OutOfScope:
        raise NotFound(f"offre introuvable : {opportunity_id}") from None


# --- the listing -----------------------------------------------------------------------------


@router.get("/offres")
def offers_page(request: Request, engine: EngineDep, person: OfficerPage) -> HTMLResponse:
    today = date.today()
    standings = engine.standings(actor=person, today=today)
    checks = {s.listing.opportunity.id: freshness(s.listing, today) for s in standings}
    return render(
        request,
        "offres/liste.html",
        standings=standings,
        checks=checks,
        attention=sum(check.needs_attention for check in checks.values()),
        month=today.replace(day=1),
    )


# --- the offer form --------------------------------------------------------------------------


def _form_page(
    request: Request,
    person: User,
    offer: Opportunity | None,
    values: dict[str, object],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    preview: Opportunity | None = None,
    audience: int | None = None,
    duplicate: LooksLikeDuplicate | None = None,
) -> HTMLResponse:
    return render(
        request,
        "offres/formulaire.html",
        status_code,
        offer=offer,
        values=values,
        errors=errors or {},
        territories=person.territories,
        label_suggestions=LABEL_SUGGESTIONS,
        preview=preview,
        audience=audience,
        duplicate=duplicate,
    )


@router.get("/offres/nouvelle")
def new_offer_form(request: Request, person: OfficerPage) -> HTMLResponse:
    return _form_page(request, person, None, form_values(None, person))


@router.get("/offres/{opportunity_id}/modifier")
def edit_offer_form(
    request: Request, engine: EngineDep, person: OfficerPage, opportunity_id: OpportunityIdPath
) -> HTMLResponse:
    offer = _own_offer(engine, opportunity_id, person)
    return _form_page(request, person, offer, form_values(offer, person))


async def _save_form(
    request: Request, engine: Engine, web_session: WebSession, opportunity_id: str | None
) -> Response:
    form = await request.form()
    check_csrf(request, web_session, str(form.get("csrf", "")))
    person = web_session.user
    previewing, forcing = form.get("action") == "apercu", form.get("action") == "forcer"

    def save() -> Response:
        stored = None if opportunity_id is None else _own_offer(engine, opportunity_id, person)
        label = f"offre {opportunity_id}" if opportunity_id else "nouvelle offre"
        values = submitted_values(form)
        try:
            record = offer_record(form, stored, label)
            if isinstance(record, InvalidRecord):
                raise record
            kind = str(record.get("kind", ""))
            offer = engine.validate_opportunity(
                {"id": opportunity_id or new_opportunity_id(kind), **record}, label
            )
            if previewing:
                return _form_page(
                    request, person, stored, values, preview=offer, audience=engine.audience(offer)
                )
            engine.publish(offer, create=opportunity_id is None, actor=person, force=forcing)
        except LooksLikeDuplicate as warning:
            # Not an error: the officer decides, with the look-alike in view.
            return _form_page(request, person, stored, values, status_code=409, duplicate=warning)
        except InvalidRecord as error:
            return _form_page(request, person, stored, values, field_errors(error), 422)
        except OutOfScope as error:
            return _form_page(request, person, stored, values, {"territory": str(error)}, 422)
        done = "publiee" if opportunity_id is None else "modifiee"
        return RedirectResponse(f"/offres?{done}={offer.id}", status_code=303)

    return await run_in_threadpool(save)


@router.post("/offres/nouvelle")
async def create_offer(request: Request, engine: EngineDep, web_session: SignedIn) -> Response:
    return await _save_form(request, engine, web_session, None)


@router.post("/offres/{opportunity_id}/modifier")
async def update_offer(
    request: Request, engine: EngineDep, web_session: SignedIn, opportunity_id: OpportunityIdPath
) -> Response:
    return await _save_form(request, engine, web_session, opportunity_id)


#: The one-button changes of an offer's form: what each does, and the word the listing says.
OFFER_ACTIONS: dict[str, tuple[Callable[..., Opportunity], str]] = {
    "archiver": (Engine.archive, "archivee"),
    "prolonger": (Engine.prolong, "prolongee"),
}


@router.post("/offres/{opportunity_id}/{action}")
def change_offer(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    opportunity_id: OpportunityIdPath,
    action: Literal["archiver", "prolonger"],
    csrf: Csrf = "",
) -> RedirectResponse:
    """« Archiver l'offre » or « Prolonger de 6 mois »."""
    check_csrf(request, web_session, csrf)
    _own_offer(engine, opportunity_id, web_session.user)
    change, done = OFFER_ACTIONS[action]
    change(engine, opportunity_id, actor=web_session.user)
    return RedirectResponse(f"/offres?{done}={opportunity_id}", status_code=303)


# --- candidates ------------------------------------------------------------------------------


def _candidates_page(
    request: Request,
    engine: Engine,
    person: User,
    opportunity_id: str,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    offer = _own_offer(engine, opportunity_id, person)
    candidacies = engine.candidacies(opportunity_id, actor=person, top=CANDIDATES_SHOWN)
    return render(
        request,
        "offres/candidats.html",
        status_code,
        offer=offer,
        candidacies=candidacies,
        notice=notice,
        problem=problem,
    )


@router.get("/offres/{opportunity_id}/candidats")
def candidates_page(
    request: Request,
    engine: EngineDep,
    person: OfficerPage,
    opportunity_id: OpportunityIdPath,
) -> HTMLResponse:
    return _candidates_page(request, engine, person, opportunity_id)


@router.post("/offres/{opportunity_id}/candidats/proposer")
def propose(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    opportunity_id: OpportunityIdPath,
    pseudonym: Annotated[str, Form(max_length=40)],
    csrf: Csrf = "",
) -> HTMLResponse:
    check_csrf(request, web_session, csrf)
    person = web_session.user
    _own_offer(engine, opportunity_id, person)
    try:
        propose_contact(engine, opportunity_id, pseudonym, person)
    except (AlreadyExists, NotFound, NoticeNotSent) as error:
        message = str(error)
        return _candidates_page(
            request, engine, person, opportunity_id, problem=message[:1].upper() + message[1:]
        )
    return _candidates_page(
        request,
        engine,
        person,
        opportunity_id,
        notice=f"Mise en relation proposée : le conseiller ou la conseillère de {pseudonym} a reçu votre "
        "message et en parlera avec la personne.",
    )


# --- import ----------------------------------------------------------------------------------


@router.get("/offres/modele.csv")
def import_template() -> Response:
    """The spreadsheet template of the import, for a browser (the API's needs a token)."""
    return Response(
        template("opportunities"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{FILE_NAMES["opportunities"]}"'},
    )


@router.get("/offres/import")
def import_form(request: Request) -> HTMLResponse:
    return render(request, "offres/import.html", report=None, problem=None, filename=None)


@router.post("/offres/import")
async def import_file(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    fichier: UploadFile,
    csrf: Annotated[str, Form()] = "",
) -> HTMLResponse:
    check_csrf(request, web_session, csrf)
    content = await fichier.read()
    filename = fichier.filename or "fichier envoyé"

    def run() -> ImportReport:
        records = read_records(content, filename, kind="opportunities")
        return engine.import_records("opportunities", records, actor=web_session.user)

    try:
        report = await run_in_threadpool(run)
    except InvalidFile as error:
        return render(request, "offres/import.html", 422, report=None, problem=str(error), filename=filename)
    return render(request, "offres/import.html", report=report, problem=None, filename=filename)
