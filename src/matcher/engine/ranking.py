"""Ranking: hard filters, then a filtered vector search, then soft scoring, then explanations.

One profile or many in one pass (one batched embedding); restricted to a few offers when the
digest asks (the week's new ones); holders for one offer (candidates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy import sparse

from matcher.catalogue import CatalogueView
from matcher.domain import HolderProfile, HolderQuery, Match, MatchResult, Opportunity, profile_text
from matcher.encoders import Encoder, embed_documents
from matcher.engine.caches import DocumentCache, QueryCache
from matcher.engine.upkeep import IndexKeeper
from matcher.explain import MatchFacts, describe_relaxation, explain, fit_label
from matcher.filters import FilterOutcome, hard_filters, relaxation_options
from matcher.scoring import Weights, components, final_scores, on_topic, partner_offers
from matcher.store.catalogue import draft_row

#: How many semantic neighbours are re-scored with the soft features, per result wanted.
POOL_PER_RESULT = 5
MIN_POOL = 50


@dataclass(frozen=True)
class Search:
    """What a batch of profiles shares: how many results, the day, an optional restriction.

    ``positions``: sorted catalogue positions the search is restricted to (None: everything).
    """

    top: int
    today: date
    positions: np.ndarray | None = None


@dataclass(frozen=True)
class Seeker:
    """One profile as the search sees it: the record, its vector, what they marked not relevant."""

    profile: HolderProfile
    vector: np.ndarray
    rejected: set[str]


class Ranker:
    """Matches profiles against the catalogue the keeper holds."""

    def __init__(
        self,
        keeper: IndexKeeper,
        documents: DocumentCache,
        queries: QueryCache,
        encoder: Callable[[], Encoder],
        weights: Weights,
    ):
        self.keeper = keeper
        self.documents = documents
        self.queries = queries
        self._encoder = encoder
        self.weights = weights

    def profile_vectors(self, profiles: list[HolderProfile]) -> np.ndarray:
        """The profiles' texts embedded in one batch, reusing those embedded recently."""
        encoder = self._encoder()
        return self.queries.vectors(
            [profile_text(p) for p in profiles],
            lambda texts: embed_documents(encoder, [("", t) for t in texts]),
            encoder.dim,
        )

    def match_many(
        self,
        profiles: list[HolderProfile],
        top: int,
        today: date,
        among: set[str] | None = None,
    ) -> list[MatchResult]:
        """Each profile's ``top`` opportunities; ``among`` restricts them to those ids."""
        self.keeper.refresh()
        # Encoding runs outside the engine lock: one request's projects are encoded while
        # another's are scored.
        vectors = self.profile_vectors(profiles)
        rejected = self.keeper.store.holders.rejected_by([p.id for p in profiles if p.id])
        with self.keeper.lock:
            positions = None
            if among is not None:
                # Restricted to a few offers (the digest's new ones), filters run on those alone.
                positions = np.flatnonzero(np.isin(self.keeper.view.arrays["id"], list(among)))
            search = Search(top=top, today=today, positions=positions)
            return [
                self._match_one(Seeker(p, vectors[i : i + 1], rejected.get(p.id or "", set())), search)
                for i, p in enumerate(profiles)
            ]

    def _match_one(self, seeker: Seeker, search: Search) -> MatchResult:
        profile, view = seeker.profile, self.keeper.view
        outcome = hard_filters(profile, view, search.today, seeker.rejected, search.positions)
        allowed = outcome.allowed_row_ids
        pool = max(search.top * POOL_PER_RESULT, MIN_POOL)
        index, _ = self.keeper.loaded()
        similarities, row_ids = index.search(seeker.vector, pool, allowed=allowed)
        found = row_ids[0] >= 0
        matches = self._rank(seeker, row_ids[0][found], similarities[0][found], outcome, search)
        relaxations = []
        if len(allowed) < search.top and search.positions is None:
            wanted = search.top - len(allowed)
            relaxations = [describe_relaxation(o) for o in relaxation_options(profile, view, outcome, wanted)]
        return MatchResult(
            holder_id=profile.id,
            matches=matches,
            excluded=outcome.excluded,
            relaxations=relaxations,
        )

    def _rank(
        self,
        seeker: Seeker,
        row_ids: np.ndarray,
        similarities: np.ndarray,
        outcome: FilterOutcome,
        search: Search,
    ) -> list[Match]:
        if len(row_ids) == 0:
            return []
        profile, view = seeker.profile, self.keeper.view
        index, lexical_model = self.keeper.loaded()
        positions = view.positions(row_ids)
        distances_km = outcome.distances_at(positions)
        # The semantic component is the closer of the whole offer and its best passage.
        similarities = np.maximum(similarities, index.best_piece(seeker.vector, row_ids))
        documents = self.documents.get(row_ids.tolist(), self.keeper.store.catalogue.by_row_id, lexical_model)
        query = profile_text(profile)
        lexical = lexical_model.similarity(query, sparse.vstack([d.vector for d in documents]))
        partner_counts = partner_offers(view, positions, profile.partner_family, search.today)
        parts = components(
            profile, view, positions, similarities, lexical, distances_km, partner_counts, search.today
        )
        scores = final_scores(parts, self.weights)
        order = np.argsort(-scores, kind="stable")[: search.top]
        matches = []
        for rank, i in enumerate(order.tolist(), start=1):
            opportunity = documents[i].opportunity
            own = {name: round(float(values[i]), 4) for name, values in parts.items()}
            distance = None if distances_km is None else float(distances_km[i])
            facts = MatchFacts(
                parts=own,
                distance_km=distance,
                partner_count=int(partner_counts[i]),
                shared_words=lexical_model.shared_words(query, documents[i].stems),
            )
            reasons, warnings = explain(profile, opportunity, facts, search.today, self.weights)
            matches.append(
                Match(
                    rank=rank,
                    opportunity_id=opportunity.id,
                    score=round(float(scores[i]), 4),
                    components=own,
                    reasons=reasons,
                    warnings=warnings,
                    title=opportunity.title,
                    kind=opportunity.kind,
                    commune=opportunity.location.commune,
                    department=opportunity.location.department,
                    distance_km=None if distance is None else round(distance, 1),
                    price_eur=opportunity.price_eur,
                    lat=opportunity.location.lat,
                    lon=opportunity.location.lon,
                    fit=fit_label(float(scores[i]), on_topic(own)),
                )
            )
        return matches

    def candidates(self, opportunity_id: str, top: int, today: date) -> list[tuple[HolderProfile, Match]]:
        """Holders who agreed to be seen by territories, ranked by how well they fit one offer.

        Each holder's own hard constraints apply: someone whose budget or distance the offer
        breaks is not a candidate.
        """
        self.keeper.store.catalogue.get(opportunity_id)  # NotFound for an unknown id
        _, holders = self.keeper.store.holders.page(HolderQuery(share_with_territories=True))
        results = self.match_many(holders, top=1, today=today, among={opportunity_id})
        ranked = [(h, r.matches[0]) for h, r in zip(holders, results, strict=True) if r.matches]
        ranked.sort(key=lambda pair: -pair[1].score)
        return ranked[:top]

    def audience(self, opportunity: Opportunity, today: date) -> int:
        """How many stored holders' hard constraints let ``opportunity`` through, whether it is
        stored or only drafted (those who marked it not relevant excepted)."""
        view = CatalogueView()
        view.upsert([draft_row(opportunity)])
        _, holders = self.keeper.store.holders.page(HolderQuery())
        rejected = self.keeper.store.holders.rejected_by([h.key for h in holders])
        return sum(bool(hard_filters(h, view, today, rejected.get(h.key, set())).passing[0]) for h in holders)
