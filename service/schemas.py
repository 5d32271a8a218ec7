"""Request and response shapes of the HTTP API, apart from the database tables.

Records themselves (Opportunity, HolderProfile) and match results (MatchResult) are the core
data contract from ``matcher.domain``, the same the CLI reads and prints; this module adds what
only the API needs: pages, reports, feedback, candidates, health and errors.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from matcher.domain import HolderProfile, Opportunity, Reason, RecordId, Verdict

#: Largest page a listing returns.
MAX_PAGE = 200
#: Largest ``top`` a match query may ask for.
MAX_TOP = 100


class OpportunityPage(BaseModel):
    """One page of opportunities, and how many match the filters in all."""

    total: int
    offset: int
    limit: int
    items: list[Opportunity]


class HolderPage(BaseModel):
    """One page of holder profiles, and how many match the filters in all."""

    total: int
    offset: int
    limit: int
    items: list[HolderProfile]


class Rejected(BaseModel):
    record: str = Field(description="La ligne ou l'id du refusé, par exemple « ligne 3 (id act-9) ».")
    reason: str


class ImportReportOut(BaseModel):
    """Per-record outcome of an import, as the CLI prints it."""

    inserted: int
    updated: int
    unchanged: int
    rejected: list[Rejected]


class FeedbackIn(BaseModel):
    """A holder's verdict on one opportunity; ``not_relevant`` hides it from their matches."""

    model_config = ConfigDict(extra="forbid")

    opportunity_id: Annotated[RecordId, Field(examples=["act-001-medecin-felletin"])]
    verdict: Annotated[Verdict, Field(examples=["not_relevant"])]
    comment: Annotated[str, Field(max_length=500, examples=["Trop loin de l'école"])] | None = None


class FeedbackOut(BaseModel):
    holder_id: str
    opportunity_id: str
    verdict: Verdict
    comment: str | None = None


class CandidateOrigin(BaseModel):
    commune: str | None
    department: str | None


class Candidate(BaseModel):
    """A holder who agreed to be seen by territories, under a pseudonym: no name, no e-mail."""

    rank: int
    pseudonym: str = Field(description="Stable pour un même porteur, par exemple « Porteur·se 3F2A9C ».")
    origin: CandidateOrigin | None
    project: str
    score: float
    components: dict[str, float]
    reasons: list[Reason]
    warnings: list[Reason]
    distance_km: float | None


class CandidatesOut(BaseModel):
    opportunity_id: str
    candidates: list[Candidate]


class DatabaseHealth(BaseModel):
    ok: bool
    opportunities: int | None = None
    holders: int | None = None
    error: str | None = None


class IndexHealth(BaseModel):
    loaded: bool
    indexed: int
    encoder: str | None
    up_to_date: bool | None = Field(
        description="Faux quand des écritures attendent d'être indexées (elles le seront à la "
        "requête suivante)."
    )


class HealthOut(BaseModel):
    status: str = Field(description="« ok », ou « dégradé » quand la base ne répond pas.")
    database: DatabaseHealth
    index: IndexHealth


class ErrorOut(BaseModel):
    """Every error but 422: one French sentence."""

    detail: str


class LookAlikeOut(BaseModel):
    """A live offer the sent one resembles."""

    id: str
    title: str
    published: date = Field(description="Date de publication de l'offre qui ressemble.")
    similarity: float = Field(ge=0, le=1, description="Ressemblance de 0 à 1 (mots et sens).")


class ConflictOut(BaseModel):
    """409: the id is taken, or the offer resembles live ones (``look_alikes``, best first)."""

    detail: str
    look_alikes: list[LookAlikeOut] = []


class FieldError(BaseModel):
    """One problem of a request: where (``loc``, ``field``) and what, in French (``msg``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    field: str
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """422: the request breaks the contract; each field's problem in French."""

    message: str
    detail: list[FieldError]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses, with their bodies."""
    described = {
        401: "Jeton d'accès manquant, invalide ou révoqué.",
        403: "Action interdite pour ce compte (rôle ou territoire).",
        404: "Identifiant inconnu.",
        409: "L'identifiant existe déjà, ou l'offre ressemble à une offre en ligne de son territoire "
        "ou de sa commune (look_alikes) : ?force=true la publie quand même.",
        413: "Corps de requête trop volumineux.",
        422: "Requête invalide : un message en français par champ.",
        503: "Base de données indisponible.",
    }
    return {
        status: {
            "model": ValidationErrorOut if status == 422 else ConflictOut if status == 409 else ErrorOut,
            "description": described[status],
        }
        for status in statuses
    }
