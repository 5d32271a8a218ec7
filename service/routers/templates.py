"""Spreadsheet templates: the CSV an office fills in and sends back to the import routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from matcher.intake import RecordKind
from matcher.spreadsheet import template
from service.auth import AnyUser
from service.schemas import error_responses

router = APIRouter(prefix="/v1/templates", tags=["modèles"], responses=error_responses(401))

FILE_NAMES = {"opportunities": "modele-offres.csv", "holders": "modele-porteurs.csv"}


@router.get(
    "/{kind}",
    response_class=Response,
    summary="Modèle CSV à remplir dans un tableur (offres ou porteurs)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "Le modèle."}},
)
def spreadsheet_template(
    _: AnyUser, kind: Annotated[RecordKind, Path(description="opportunities ou holders")]
) -> Response:
    """En-têtes en français, séparateur « ; », UTF-8 avec BOM, une ligne d'exemple : s'ouvre tel quel
    dans LibreOffice ou Excel, puis s'importe par `POST /v1/opportunities/import`."""
    return Response(
        template(kind),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{FILE_NAMES[kind]}"'},
    )
