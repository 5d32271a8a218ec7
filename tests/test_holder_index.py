"""Candidates by vector: the sharing holders' constraints as arrays decide as the hard filters
do, and the candidates of an offer are those re-matching every sharing holder would give,
wherever that ranking falls within the pool scored."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from matcher.config import Settings
from matcher.domain import HolderProfile, HolderQuery, Location, Match
from matcher.encoders import Encoder
from matcher.engine import Engine
from matcher.engine.holder_index import OfferPlace, SharingHolders
from matcher.engine.pools import MIN_POOL, POOL_PER_RESULT
from matcher.filters import hard_filters

#: Every test here runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("database")

TODAY = date(2026, 11, 22)


def exhaustive(engine: Engine, opportunity_id: str, top: int) -> list[tuple[HolderProfile, Match]]:
    """The candidates as they were found before the holder index: every sharing holder
    re-matched against the one offer."""
    _, sharing = engine.holders(HolderQuery(share_with_territories=True))
    results = engine.ranker.match_many(sharing, top=1, today=TODAY, among={opportunity_id}, voice="officer")
    ranked = [(h, r.matches[0]) for h, r in zip(sharing, results, strict=True) if r.matches]
    ranked.sort(key=lambda pair: -pair[1].score)
    return ranked[:top]


def seen(ranked: list[tuple[HolderProfile, Match]]) -> list[tuple[str, dict[str, object]]]:
    return [(holder.key, match.model_dump()) for holder, match in ranked]


def with_areas(holders: list[HolderProfile]) -> list[HolderProfile]:
    """The sample's holders, and copies of some restricted to regions (the sample names none)."""
    regions = [["84"], ["75", "76"], ["53"], ["27", "44"]]
    return holders + [
        h.model_copy(update={"id": f"{h.key}-r", "regions": regions[i % len(regions)]})
        for i, h in enumerate(holders[::4])
    ]


def test_the_constraint_arrays_decide_as_the_hard_filters(sample_engine: Engine) -> None:
    sample_engine.refresh()
    view = sample_engine.view
    holders = with_areas(sample_engine.holders()[1])
    holders.append(
        HolderProfile(
            id="h-nowhere", project="Partout", origin=Location(commune="Inconnue"), max_distance_km=5
        )
    )
    sharing = SharingHolders(4, "test")
    sharing.upsert(holders, np.zeros((len(holders), 4), np.float32))
    sharing.upsert(holders[:5], np.ones((5, 4), np.float32))  # again: their slots are replaced
    leaving = holders.pop(7)
    sharing.remove([leaving.key])
    a = view.arrays
    rejecting = {holders[3].key, holders[10].key}
    for position in range(len(view)):
        place = OfferPlace(
            kind=str(a["kind"][position]),
            department=str(a["department"][position]),
            region=str(a["region"][position]),
            lat=float(a["lat"][position]),
            lon=float(a["lon"][position]),
            price_eur=float(a["price_eur"][position]),
        )
        offer_id = str(a["id"][position])
        expected = []
        for holder in holders:
            outcome = hard_filters(holder, view, TODAY, {offer_id} if holder.key in rejecting else set())
            masks = outcome.masks
            own = [name for name in masks if name not in ("status", "expired")]
            expected.append(all(masks[name][position] for name in own))
        passing = sharing.passing(place, rejecting)
        found = sorted(h.key for slot in np.flatnonzero(passing) if (h := sharing.holders[slot]))
        assert found == sorted(h.key for h, passes in zip(holders, expected, strict=True) if passes), offer_id


def widely_shared(engine: Engine) -> None:
    """Add a sharing copy of each sample holder without hard constraints (each project a little
    different): most offers then pass more holders than a pool holds."""
    _, holders = engine.holders()
    engine.store.holders.bulk_insert(
        h.model_copy(
            update={
                "id": f"{h.key}-partout",
                "project": f"{h.project} Je suis ouvert·e à tout, c'est la piste n°{i}.",
                "share_with_territories": True,
                "kinds": [],
                "departments": [],
                "regions": [],
                "max_distance_km": None,
                "budget_eur": None,
            }
        )
        for i, h in enumerate(holders)
    )
    engine.embed_holders()


#: One offer of each kind, and a takeover with a price.
OFFERS = ("act-028-mam-langeac", "rep-001-boulangerie-felletin", "cow-030-fourmiliere-corbigny")


def test_candidates_are_every_sharing_holder_re_matched_within_the_pool(sample_engine: Engine) -> None:
    widely_shared(sample_engine)
    sample_engine.refresh()
    index = sample_engine.index
    assert index is not None
    a = sample_engine.view.arrays
    restricted = 0
    for offer_id in OFFERS:
        everyone = exhaustive(sample_engine, offer_id, top=1000)
        holders = [h for h, _ in everyone]
        closeness = (
            sample_engine.ranker.profile_vectors(holders) @ index.vectors(a["row_id"][a["id"] == offer_id])[0]
        )
        for top, pool in ((20, None), (5, None), (4, 6)):
            size = pool or max(top * POOL_PER_RESULT, MIN_POOL)
            closest = {holders[i].key for i in np.argsort(-closeness)[:size]}
            expected = [(h, m) for h, m in everyone if h.key in closest][:top]
            found = sample_engine.ranker.candidates(offer_id, top=top, today=TODAY, pool=pool)
            assert seen(found) == seen(expected), (offer_id, top, pool)
            assert all(holder.share_with_territories for holder, _ in found)
            restricted += len(closest) < len(everyone)
        # With the default pool for 20, every passing holder is scored: today's list exactly.
        assert seen(sample_engine.candidates(offer_id, top=20, today=TODAY)) == seen(everyone[:20])
    assert restricted >= 4  # the pool did leave holders out, for the default pool too


def test_the_holder_index_follows_the_holders(sample_engine: Engine, encoder: Encoder) -> None:
    offer_id = "act-028-mam-langeac"
    first = sample_engine.candidates(offer_id, top=50, today=TODAY)
    holder, _ = first[0]
    sample_engine.record_feedback(holder.key, offer_id, "not_relevant")
    assert holder.key not in {h.key for h, _ in sample_engine.candidates(offer_id, top=50, today=TODAY)}

    other, _ = first[1]
    sample_engine.save_holder(other.model_copy(update={"share_with_territories": False}))
    after = {h.key for h, _ in sample_engine.candidates(offer_id, top=50, today=TODAY)}
    assert other.key not in after and after == {h.key for h, _ in first} - {holder.key, other.key}

    newcomer = other.model_copy(update={"id": "h-nouveau", "share_with_territories": True})
    sample_engine.save_holder(newcomer)
    assert "h-nouveau" in {h.key for h, _ in sample_engine.candidates(offer_id, top=50, today=TODAY)}
    sample_engine.erase_holder("h-nouveau")
    assert "h-nouveau" not in {h.key for h, _ in sample_engine.candidates(offer_id, top=50, today=TODAY)}

    # Another process erases a candidate: this engine's index no longer holds them.
    gone, _ = first[2]
    elsewhere = Engine(Settings(home=sample_engine.settings.home), encoder=encoder)
    try:
        elsewhere.erase_holder(gone.key)
    finally:
        elsewhere.close()
    assert gone.key not in {h.key for h, _ in sample_engine.candidates(offer_id, top=50, today=TODAY)}
    kept = sample_engine.ranker.holder_index._current
    assert kept is not None and gone.key not in kept.slots

    archived = sample_engine.archive(offer_id)
    assert sample_engine.candidates(archived.id, top=50, today=TODAY) == []
