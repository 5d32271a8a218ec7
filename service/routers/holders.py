"""Holder profiles, managed by counsellors (and admins); erasure; feedback on suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from matcher.domain import HolderProfile, HolderQuery, new_holder_id
from service.auth import Counsellor, EngineDep
from service.routers import (
    REQUEST_LABEL,
    HolderIdPath,
    JsonBody,
    Offset,
    json_request_body,
    merge_patch,
    record_with_id,
)
from service.schemas import MAX_PAGE, FeedbackIn, FeedbackOut, HolderPage, error_responses

router = APIRouter(
    prefix="/v1/holders",
    tags=["porteurs de projet"],
    responses=error_responses(401, 403, 413, 422, 503),
)


@router.get("", response_model=HolderPage, summary="Lister les porteurs de projet")
def list_holders(
    engine: EngineDep,
    user: Counsellor,
    digest_opt_in: bool | None = None,
    share_with_territories: bool | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> HolderPage:
    """Les profils de votre organisation (toutes pour un compte admin) dans l'ordre des id, filtrés
    sur l'abonnement aux suggestions ou la visibilité."""
    query = HolderQuery(digest_opt_in, share_with_territories, offset, limit)
    total, page = engine.holders(query, actor=user)
    return HolderPage(total=total, offset=offset, limit=limit, items=page)


@router.post(
    "",
    status_code=201,
    response_model=HolderProfile,
    summary="Enregistrer un porteur de projet",
    responses=error_responses(409),
    openapi_extra=json_request_body("HolderProfile", "Le profil ; sans id, le service en attribue un."),
)
def create_holder(engine: EngineDep, user: Counsellor, body: JsonBody, response: Response) -> HolderProfile:
    """Crée un profil (201) ; 409 si l'id existe déjà. Sans id, un id « h-… » est attribué. Le
    porteur rejoint l'organisation du compte, qui devient son contact s'il n'en a pas."""
    if isinstance(body, dict) and body.get("id") is None:
        body = {**body, "id": new_holder_id()}
    holder = engine.save_holder(engine.validate_holder(body, REQUEST_LABEL), create=True, actor=user)
    response.headers["Location"] = f"/v1/holders/{holder.id}"
    return holder


@router.post(
    "/{holder_id}/feedback",
    status_code=201,
    response_model=FeedbackOut,
    summary="Enregistrer l'avis d'un porteur sur une offre",
    responses=error_responses(404),
)
def add_feedback(
    engine: EngineDep, user: Counsellor, holder_id: HolderIdPath, feedback: FeedbackIn
) -> FeedbackOut:
    """« not_relevant » retire l'offre des correspondances de ce porteur ; « interested » et
    « contacted » sont gardés pour le suivi."""
    engine.record_feedback(holder_id, feedback.opportunity_id, feedback.verdict, feedback.comment, actor=user)
    return FeedbackOut(
        holder_id=holder_id,
        opportunity_id=feedback.opportunity_id,
        verdict=feedback.verdict,
        comment=feedback.comment,
    )


@router.get(
    "/{holder_id}", response_model=HolderProfile, summary="Lire un profil", responses=error_responses(404)
)
def get_holder(engine: EngineDep, user: Counsellor, holder_id: HolderIdPath) -> HolderProfile:
    """Le profil tel qu'enregistré ; 404 pour un porteur d'une autre organisation."""
    return engine.holder(holder_id, actor=user)


@router.put(
    "/{holder_id}",
    response_model=HolderProfile,
    summary="Remplacer un profil",
    responses=error_responses(404),
    openapi_extra=json_request_body("HolderProfile", "Le profil complet ; son id est celui de l'adresse."),
)
def replace_holder(
    engine: EngineDep, user: Counsellor, holder_id: HolderIdPath, body: JsonBody
) -> HolderProfile:
    """Remplace le profil entier."""
    engine.holder(holder_id, actor=user)  # 404 for an unknown id: PUT does not create
    holder = engine.validate_holder(record_with_id(body, holder_id), REQUEST_LABEL)
    return engine.save_holder(holder, actor=user)


@router.patch(
    "/{holder_id}",
    response_model=HolderProfile,
    summary="Modifier certains champs d'un profil",
    responses=error_responses(404),
    openapi_extra=json_request_body(
        "HolderProfilePatch",
        "Les champs à changer ; null efface un champ facultatif. L'ensemble est revalidé.",
    ),
)
def patch_holder(
    engine: EngineDep, user: Counsellor, holder_id: HolderIdPath, body: JsonBody
) -> HolderProfile:
    """Fusionne les champs donnés avec le profil, puis revalide le tout."""
    stored = engine.holder(holder_id, actor=user)
    merged = merge_patch(stored.model_dump(mode="json", exclude_none=True), body, holder_id)
    return engine.save_holder(engine.validate_holder(merged, REQUEST_LABEL), actor=user)


@router.delete(
    "/{holder_id}",
    status_code=204,
    response_class=Response,
    summary="Effacer un porteur de projet et tout ce qui le concerne",
    responses=error_responses(404),
)
def delete_holder(engine: EngineDep, user: Counsellor, holder_id: HolderIdPath) -> Response:
    """Droit à l'effacement : le profil, ses avis et l'historique des suggestions envoyées."""
    engine.erase_holder(holder_id, actor=user)
    return Response(status_code=204)
