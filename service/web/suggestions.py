"""Suggestions while typing, for any signed-in person's form: communes from the gazetteer
(communes déléguées included), swapped in by htmx as the options of the field's list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from service.auth import EngineDep
from service.web.rendering import render
from service.web.session import current_session

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_session)])


@router.get("/suggestions/communes")
def commune_suggestions(
    request: Request,
    engine: EngineDep,
    origin: Annotated[str, Query(alias="origin.commune", max_length=100)] = "",
    location: Annotated[str, Query(alias="location.commune", max_length=100)] = "",
) -> HTMLResponse:
    """The holder form sends its origin, the offer form its location: whichever was typed."""
    return render(request, "_communes.html", communes=engine.communes_starting(origin or location))
