"""Opportunities: published by territory officers (in their scope) and admins, read by everyone."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from matcher.domain import (
    DEPARTMENT_PATTERN,
    Candidacy,
    Kind,
    Opportunity,
    OpportunityQuery,
    Status,
)
from matcher.intake import read_records
from service.auth import AnyUser, EngineDep, Publisher
from service.routers import (
    REQUEST_LABEL,
    JsonBody,
    Offset,
    OpportunityIdPath,
    json_request_body,
    merge_patch,
    record_with_id,
)
from service.schemas import (
    MAX_PAGE,
    MAX_TOP,
    Candidate,
    CandidateOrigin,
    CandidatesOut,
    ImportReportOut,
    OpportunityPage,
    error_responses,
)

router = APIRouter(
    prefix="/v1/opportunities",
    tags=["opportunités"],
    responses=error_responses(401, 403, 413, 422, 503),
)

#: Publish even when the offer resembles a live one (the 409's ``look_alikes``).
Force = Annotated[
    bool,
    Query(
        description="Publier même si l'offre ressemble à une offre en ligne de son territoire "
        "ou de sa commune."
    ),
]

_IMPORT_FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}


@router.get("", response_model=OpportunityPage, summary="Lister les opportunités (filtres, pagination)")
def list_opportunities(
    engine: EngineDep,
    _: AnyUser,
    kind: Kind | None = None,
    department: Annotated[str | None, Query(pattern=DEPARTMENT_PATTERN)] = None,
    territory: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: Status | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> OpportunityPage:
    """Les opportunités dans l'ordre des id, filtrées par type, département, territoire ou statut."""
    query = OpportunityQuery(kind, department, territory, status, offset, limit)
    total, items = engine.opportunities(query)
    return OpportunityPage(total=total, offset=offset, limit=limit, items=items)


@router.post(
    "",
    status_code=201,
    response_model=Opportunity,
    summary="Publier une opportunité",
    responses=error_responses(409),
    openapi_extra=json_request_body("Opportunity", "L'opportunité, au format du contrat de données."),
)
def create_opportunity(
    engine: EngineDep, user: Publisher, body: JsonBody, response: Response, force: Force = False
) -> Opportunity:
    """Crée une opportunité (201) ; 409 si l'id existe, ou si elle ressemble à une offre en ligne
    (``look_alikes``) sans ``force``. Un agent territorial ne publie que dans ses territoires."""
    opportunity = engine.validate_opportunity(body, REQUEST_LABEL)
    engine.publish(opportunity, create=True, actor=user, force=force)
    response.headers["Location"] = f"/v1/opportunities/{opportunity.id}"
    return opportunity


@router.post(
    "/import",
    response_model=ImportReportOut,
    summary="Importer des opportunités (JSON Lines, JSON ou CSV)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Le fichier tel quel : JSON Lines, tableau JSON ou CSV "
            "(colonnes `location.commune`…).",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
)
async def import_opportunities(
    request: Request,
    engine: EngineDep,
    user: Publisher,
    body_format: Annotated[
        Literal["jsonl", "json", "csv"] | None,
        Query(alias="format", description="Format du corps ; sinon déduit du Content-Type puis du contenu."),
    ] = None,
    force: Force = False,
) -> ImportReportOut:
    """Ajoute ou met à jour par id ; les enregistrements valides sont gardés, chaque refus est expliqué
    (une offre qui ressemble à une offre en ligne est refusée sans ``force``)."""
    content = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = body_format or _IMPORT_FORMATS.get(content_type)

    def run() -> dict[str, Any]:
        records = read_records(content, REQUEST_LABEL, fmt, kind="opportunities")
        return engine.import_records("opportunities", records, actor=user, force=force).as_dict()

    return ImportReportOut.model_validate(await run_in_threadpool(run))


@router.get(
    "/{opportunity_id}",
    response_model=Opportunity,
    summary="Lire une opportunité",
    responses=error_responses(404),
)
def get_opportunity(engine: EngineDep, _: AnyUser, opportunity_id: OpportunityIdPath) -> Opportunity:
    """L'opportunité telle qu'enregistrée (localisation complétée)."""
    return engine.opportunity(opportunity_id)


@router.put(
    "/{opportunity_id}",
    response_model=Opportunity,
    summary="Remplacer une opportunité",
    responses=error_responses(404, 409),
    openapi_extra=json_request_body("Opportunity", "L'opportunité complète ; son id est celui de l'adresse."),
)
def replace_opportunity(
    engine: EngineDep,
    user: Publisher,
    opportunity_id: OpportunityIdPath,
    body: JsonBody,
    force: Force = False,
) -> Opportunity:
    """Remplace l'enregistrement entier. Un agent ne peut pas déplacer une offre hors de son périmètre.
    409 si l'offre se met à ressembler à une autre offre en ligne, sans ``force``."""
    engine.editable(opportunity_id, user)
    opportunity = engine.validate_opportunity(record_with_id(body, opportunity_id), REQUEST_LABEL)
    engine.publish(opportunity, actor=user, force=force)
    return opportunity


@router.patch(
    "/{opportunity_id}",
    response_model=Opportunity,
    summary="Modifier certains champs d'une opportunité",
    responses=error_responses(404, 409),
    openapi_extra=json_request_body(
        "OpportunityPatch", "Les champs à changer ; null efface un champ facultatif. L'ensemble est revalidé."
    ),
)
def patch_opportunity(
    engine: EngineDep,
    user: Publisher,
    opportunity_id: OpportunityIdPath,
    body: JsonBody,
    force: Force = False,
) -> Opportunity:
    """Fusionne les champs donnés avec l'enregistrement, puis revalide le tout ; 409 comme pour PUT."""
    stored = engine.editable(opportunity_id, user)
    merged = merge_patch(stored.model_dump(mode="json", exclude_none=True), body, opportunity_id)
    opportunity = engine.validate_opportunity(merged, REQUEST_LABEL)
    engine.publish(opportunity, actor=user, force=force)
    return opportunity


@router.delete(
    "/{opportunity_id}",
    response_model=Opportunity,
    summary="Archiver une opportunité",
    responses=error_responses(404),
)
def archive_opportunity(engine: EngineDep, user: Publisher, opportunity_id: OpportunityIdPath) -> Opportunity:
    """Archive l'opportunité (statut « archived ») : elle n'est plus jamais recommandée."""
    return engine.archive(opportunity_id, actor=user)


@router.get(
    "/{opportunity_id}/candidates",
    response_model=CandidatesOut,
    summary="Porteurs de projet susceptibles de reprendre l'offre (pseudonymes)",
    responses=error_responses(404),
)
def candidates(
    engine: EngineDep,
    user: Publisher,
    opportunity_id: OpportunityIdPath,
    top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 10,
) -> CandidatesOut:
    """Les porteurs qui acceptent d'être vus des territoires, classés par adéquation : pseudonyme,
    commune d'origine et projet seulement, jamais de nom ni d'adresse électronique."""
    return CandidatesOut(
        opportunity_id=opportunity_id,
        candidates=[
            _candidate(rank, candidacy)
            for rank, candidacy in enumerate(engine.candidacies(opportunity_id, actor=user, top=top), 1)
        ],
    )


def _candidate(rank: int, candidacy: Candidacy) -> Candidate:
    match = candidacy.match
    return Candidate(
        rank=rank,
        pseudonym=candidacy.pseudonym,
        origin=None
        if candidacy.commune is None and candidacy.department is None
        else CandidateOrigin(commune=candidacy.commune, department=candidacy.department),
        project=candidacy.project,
        score=match.score,
        components=match.components,
        reasons=match.reasons,
        warnings=match.warnings,
        distance_km=match.distance_km,
    )
