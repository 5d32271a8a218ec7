"""The counsellors' pages: their caseload, a holder's form, matches, sheet, export, history.

Each route reads the request, calls the engine with the signed-in account (which scopes every
holder to its organisation: another organisation's holder is « introuvable ») and renders a
template. htmx swaps the matches' section for widenings and feedback; every form also works as
a plain form.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from matcher.domain import Feedback, HolderProfile, HolderQuery, MatchResult, Verdict, new_holder_id
from matcher.engine import Engine
from matcher.engine.facade import WebSession
from matcher.errors import InvalidRecord, NotFound
from matcher.explain import describe_exclusions
from matcher.spreadsheet import matches_sheet
from matcher.taxonomy import FAMILIES, TRADES
from service.auth import EngineDep
from service.routers import HolderIdPath
from service.web.forms import (
    constraint_summary,
    field_errors,
    form_values,
    holder_record,
    submitted_values,
    widening_from_query,
)
from service.web.rendering import render
from service.web.session import CounsellorPage, SignedIn, check_csrf, counselling

router = APIRouter(include_in_schema=False, dependencies=[Depends(counselling)])

#: How many offers the matches page shows; how many the sheet takes when none is ticked.
SHOWN = 10
SHEET_DEFAULT = 5
CASELOAD_PAGE = 50
#: Suggestions for the sector and trade fields: every trade's name, then every family's.
LABEL_SUGGESTIONS = sorted({t.name for t in TRADES.values()}) + sorted(FAMILIES.values())

Csrf = Annotated[str, Form(max_length=100)]
Widening = Annotated[str, Query(max_length=32)]
Values = Annotated[list[str], Query(max_length=20)]


def holder_url(holder_id: str) -> str:
    return f"/porteurs/{holder_id}"


# --- the caseload ----------------------------------------------------------------------------


@router.get("/porteurs")
def caseload(
    request: Request,
    engine: EngineDep,
    person: CounsellorPage,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    query = HolderQuery(offset=(page - 1) * CASELOAD_PAGE, limit=CASELOAD_PAGE, search=q.strip() or None)
    total, entries = engine.caseload(query, actor=person)
    pages = max(1, -(-total // CASELOAD_PAGE))
    return render(request, "porteurs/liste.html", entries=entries, total=total, q=q, page=page, pages=pages)


# --- the holder's form -----------------------------------------------------------------------


def _form_page(
    request: Request,
    holder: HolderProfile | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "porteurs/formulaire.html",
        status_code,
        holder=holder,
        values=values,
        errors=errors or {},
        label_suggestions=LABEL_SUGGESTIONS,
    )


@router.get("/porteurs/nouveau")
def new_holder_form(request: Request) -> HTMLResponse:
    return _form_page(request, None, form_values(None))


@router.get("/porteurs/{holder_id}/modifier")
def edit_holder_form(
    request: Request, engine: EngineDep, person: CounsellorPage, holder_id: HolderIdPath
) -> HTMLResponse:
    holder = engine.holder(holder_id, actor=person)
    return _form_page(request, holder, form_values(holder))


async def _save_form(
    request: Request, engine: Engine, web_session: WebSession, holder_id: str | None
) -> Response:
    form = await request.form()
    check_csrf(request, web_session, str(form.get("csrf", "")))

    def save() -> Response:
        stored = None if holder_id is None else engine.holder(holder_id, actor=web_session.user)
        label = f"porteur {holder_id}" if holder_id else "nouveau porteur"
        try:
            record = holder_record(form, stored, label)
            if isinstance(record, InvalidRecord):
                raise record
            holder = engine.validate_holder({"id": holder_id or new_holder_id(), **record}, label)
            saved = engine.save_holder(holder, create=holder_id is None, actor=web_session.user)
        except InvalidRecord as error:
            return _form_page(request, stored, submitted_values(form), field_errors(error), 422)
        return RedirectResponse(holder_url(saved.key), status_code=303)

    return await run_in_threadpool(save)


@router.post("/porteurs/nouveau")
async def create_holder(request: Request, engine: EngineDep, web_session: SignedIn) -> Response:
    return await _save_form(request, engine, web_session, None)


@router.post("/porteurs/{holder_id}/modifier")
async def update_holder(
    request: Request, engine: EngineDep, web_session: SignedIn, holder_id: HolderIdPath
) -> Response:
    return await _save_form(request, engine, web_session, holder_id)


@router.post("/porteurs/{holder_id}/effacer")
def erase_holder(
    request: Request, engine: EngineDep, web_session: SignedIn, holder_id: HolderIdPath, csrf: Csrf = ""
) -> RedirectResponse:
    check_csrf(request, web_session, csrf)
    engine.erase_holder(holder_id, actor=web_session.user)
    return RedirectResponse("/porteurs?efface=1", status_code=303)


# --- matches ---------------------------------------------------------------------------------


def _latest_verdicts(engine: Engine, holder: HolderProfile) -> dict[str, Feedback]:
    latest: dict[str, Feedback] = {}
    for feedback in engine.feedback(holder):  # newest first
        latest.setdefault(feedback.opportunity_id, feedback)
    return latest


@router.get("/porteurs/{holder_id}")
def matches_page(
    request: Request,
    engine: EngineDep,
    person: CounsellorPage,
    holder_id: HolderIdPath,
    elargir: Widening = "",
    valeur: Values = [],  # noqa: B006 (FastAPI reads query lists from a default)
) -> HTMLResponse:
    holder = engine.holder(holder_id, actor=person)
    widening = widening_from_query(elargir, valeur)
    searched = holder
    problem = None
    if widening is not None:
        try:
            searched = engine.widened(holder, *widening)
        except InvalidRecord as error:
            problem, widening = "; ".join(message for _, message in error.problems), None
    # A widened search is a trial, not the holder's match: its date is not noted.
    result = engine.match(searched, top=SHOWN) if widening else engine.match_holder(holder, top=SHOWN)
    return render(
        request,
        "porteurs/correspondances.html",
        holder=holder,
        searched=searched,
        result=result,
        widening=widening,
        widening_problem=problem,
        summary=constraint_summary(searched),
        excluded=describe_exclusions(result.excluded),
        verdicts=_latest_verdicts(engine, holder),
        map_tiles=request.app.state.settings.map_tiles,
        points=[
            {"id": m.opportunity_id, "rank": m.rank, "title": m.title, "lat": m.lat, "lon": m.lon}
            for m in result.matches
            if m.lat is not None and m.lon is not None
        ],
    )


@router.post("/porteurs/{holder_id}/elargir")
def save_widening(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    holder_id: HolderIdPath,
    constraint: Annotated[str, Form(max_length=32)],
    value: Annotated[list[str], Form(max_length=20)],
    csrf: Csrf = "",
) -> RedirectResponse:
    check_csrf(request, web_session, csrf)
    widening = widening_from_query(constraint, value)
    if widening is None:
        raise InvalidRecord(f"porteur {holder_id}", [("elargir", "critère à élargir manquant")])
    engine.save_widening(holder_id, *widening, actor=web_session.user)
    return RedirectResponse(f"{holder_url(holder_id)}?enregistre=1", status_code=303)


@router.post("/porteurs/{holder_id}/avis")
def give_feedback(
    request: Request,
    engine: EngineDep,
    web_session: SignedIn,
    holder_id: HolderIdPath,
    opportunity_id: Annotated[str, Form(max_length=64)],
    verdict: Annotated[Verdict, Form()],
    comment: Annotated[str, Form(max_length=500)] = "",
    csrf: Csrf = "",
) -> RedirectResponse:
    check_csrf(request, web_session, csrf)
    engine.record_feedback(holder_id, opportunity_id, verdict, comment, actor=web_session.user)
    return RedirectResponse(f"{holder_url(holder_id)}#resultats", status_code=303)


# --- what the client takes away --------------------------------------------------------------


def _selected(result: MatchResult, chosen: list[str]) -> MatchResult:
    matches = [m for m in result.matches if m.opportunity_id in chosen] if chosen else result.matches
    return result.model_copy(update={"matches": matches[: len(chosen) or SHEET_DEFAULT]})


@router.get("/porteurs/{holder_id}/fiche")
def client_sheet(
    request: Request,
    engine: EngineDep,
    person: CounsellorPage,
    holder_id: HolderIdPath,
    offre: Values = [],  # noqa: B006
) -> HTMLResponse:
    holder = engine.holder(holder_id, actor=person)
    result = _selected(engine.match_holder(holder, top=SHOWN), offre)
    return render(request, "porteurs/fiche.html", holder=holder, result=result, today=date.today())


@router.get("/porteurs/{holder_id}/correspondances.csv")
def matches_export(engine: EngineDep, person: CounsellorPage, holder_id: HolderIdPath) -> Response:
    result = engine.match_holder(engine.holder(holder_id, actor=person), top=SHOWN)
    return Response(
        matches_sheet(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="correspondances-{holder_id}.csv"'},
    )


def _title(engine: Engine, opportunity_id: str) -> str:
    try:
        return engine.opportunity(opportunity_id).title
    except NotFound:  # an offer deleted since
        return f"Offre retirée ({opportunity_id})"


@router.get("/porteurs/{holder_id}/historique")
def history_page(
    request: Request, engine: EngineDep, person: CounsellorPage, holder_id: HolderIdPath
) -> HTMLResponse:
    holder = engine.holder(holder_id, actor=person)
    history = engine.holder_history(holder)
    mentioned = {f.opportunity_id for f in history.feedback} | {s[0] for s in history.sends}
    titles = {i: _title(engine, i) for i in mentioned}
    return render(request, "porteurs/historique.html", holder=holder, history=history, titles=titles)
