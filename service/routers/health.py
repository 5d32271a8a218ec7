"""Liveness and state: is the database answering, is the index loaded and up to date."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.auth import EngineDep
from service.schemas import DatabaseHealth, HealthOut, IndexHealth

router = APIRouter(tags=["état"])


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="État du service (sans authentification)",
    responses={503: {"model": HealthOut, "description": "La base de données ne répond pas."}},
)
def healthz(engine: EngineDep, response: Response) -> HealthOut:
    """La base répond-elle, combien d'offres et de profils, l'index est-il chargé et à jour."""
    health = engine.health()
    if not health.database_ok:
        response.status_code = 503
    return HealthOut(
        status="ok" if health.database_ok else "dégradé",
        database=DatabaseHealth(
            ok=health.database_ok,
            opportunities=health.opportunities,
            holders=health.holders,
            error=health.database_error,
        ),
        index=IndexHealth(
            loaded=health.index_loaded,
            indexed=health.indexed,
            encoder=health.encoder,
            up_to_date=health.index_up_to_date,
        ),
    )
