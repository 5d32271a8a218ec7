"""A small catalogue built by hand, as the filters and scoring read it: no database, no encoder."""

from __future__ import annotations

from datetime import UTC, date, datetime

from matcher.catalogue import CatalogueView
from matcher.domain import Location, Opportunity
from matcher.store.catalogue import opportunity_columns
from matcher.store.schema import OpportunityRow

TODAY = date(2026, 12, 1)
UPDATED = datetime(2026, 11, 20, tzinfo=UTC)

#: Felletin (23), Crocq (23), Aubusson (23), Tulle (19), Figeac (46).
PLACES = {
    "felletin": Location(commune="Felletin", department="23", lat=45.89425, lon=2.187),
    "crocq": Location(commune="Crocq", department="23", lat=45.8527, lon=2.36419),
    "aubusson": Location(commune="Aubusson", department="23", lat=45.95606, lon=2.16765),
    "tulle": Location(commune="Tulle", department="19", lat=45.26581, lon=1.77233),
    "figeac": Location(commune="Figeac", department="46", lat=44.60880, lon=2.03187),
}


def offer(offer_id: str, kind: str, place: str, **fields: object) -> Opportunity:
    return Opportunity(
        id=offer_id,
        kind=kind,
        title=fields.pop("title", f"Offre {offer_id}"),
        description=fields.pop("description", "Une offre du territoire."),
        territory="CC Test",
        location=PLACES[place],
        **fields,
    )


CATALOGUE = [
    offer("bakery", "takeover", "crocq", sector="alimentation", price_eur=90_000, housing=True),
    offer("grocery", "takeover", "aubusson", sector="commerce", price_eur=150_000),
    offer("doctor", "activity", "felletin", sector="sante", price_eur=0, housing=True),
    offer("cowork", "coworking", "aubusson", sector="tiers-lieu", price_eur=150, remote_friendly=True),
    offer("mason", "activity", "felletin", sector="batiment"),
    offer("plumber", "activity", "tulle", sector="batiment", price_eur=5_000),
    offer("cafe", "takeover", "figeac", sector="restauration", price_eur=60_000),
    offer("old", "takeover", "crocq", sector="commerce", price_eur=10_000, expires_on=date(2026, 10, 1)),
    offer("draft", "activity", "crocq", sector="commerce", status="draft"),
]


def hand_view(opportunities: list[Opportunity] = CATALOGUE) -> CatalogueView:
    view = CatalogueView()
    view.upsert(
        OpportunityRow(
            row_id=row_id, id=o.id, seq=1, created_at=UPDATED, updated_at=UPDATED, **opportunity_columns(o)
        )
        for row_id, o in enumerate(opportunities, start=1)
    )
    return view


def ids_at(view: CatalogueView, mask) -> set[str]:
    return set(view.arrays["id"][mask].tolist())
