"""Liveness and state: is the database answering, is the index loaded and up to date."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.exc import SQLAlchemyError

from matcher.store import HolderRow, OpportunityRow
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
    seq = None
    try:
        database = DatabaseHealth(
            ok=True, opportunities=engine.store.count(OpportunityRow), holders=engine.store.count(HolderRow)
        )
        seq = engine.store.catalogue_seq()
    except SQLAlchemyError as error:
        database = DatabaseHealth(ok=False, error=f"base de données injoignable ({type(error).__name__})")
        response.status_code = 503
    index = engine.index
    return HealthOut(
        status="ok" if database.ok else "dégradé",
        database=database,
        index=IndexHealth(
            loaded=index is not None,
            indexed=0 if index is None else len(index),
            encoder=None if index is None else index.encoder_identity,
            up_to_date=None if seq is None or index is None else seq == engine.indexed_seq,
        ),
    )
