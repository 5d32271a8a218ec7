"""Explained matches: for a stored holder, or for an ad-hoc profile that is not stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matcher.domain import MatchResult
from service.auth import Counsellor, EngineDep
from service.routers import REQUEST_LABEL, HolderIdPath, JsonBody, json_request_body
from service.schemas import MAX_TOP, error_responses

router = APIRouter(prefix="/v1", tags=["correspondances"], responses=error_responses(401, 403, 413, 422, 503))

Top = Annotated[int, Query(ge=1, le=MAX_TOP, description="Nombre d'offres voulues.")]


@router.get(
    "/holders/{holder_id}/matches",
    response_model=MatchResult,
    summary="Les meilleures offres pour un porteur enregistré",
    responses=error_responses(404),
)
def holder_matches(
    engine: EngineDep, user: Counsellor, holder_id: HolderIdPath, top: Top = 10
) -> MatchResult:
    """Même forme que `matcher match --json` : offres classées et expliquées, exclusions par
    critère, et ce qu'élargir un critère ajouterait. 404 pour un porteur d'une autre organisation."""
    return engine.match_holder(engine.holder(holder_id, actor=user), top=top)


@router.post(
    "/match",
    response_model=MatchResult,
    summary="Les meilleures offres pour un profil ponctuel (rien n'est enregistré)",
    openapi_extra=json_request_body("HolderProfile", "Un profil de porteur ; l'id est facultatif."),
)
def match_profile(engine: EngineDep, _: Counsellor, body: JsonBody, top: Top = 10) -> MatchResult:
    """Comme pour un porteur enregistré, sans rien enregistrer."""
    profile = engine.validate_holder(body, REQUEST_LABEL, require_id=False)
    return engine.match(profile, top=top)
