"""Ranking: hard filters, then a filtered vector search, then soft scoring, then explanations.

One profile or many in one pass (one batched embedding); restricted to a few offers when the
digest asks (the week's new ones); holders for one offer (candidates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from matcher.catalogue import CatalogueView, day_number
from matcher.domain import HolderProfile, HolderQuery, Match, MatchResult, Opportunity, profile_text
from matcher.encoders import Encoder, embed_documents
from matcher.engine.caches import DocumentCache, QueryCache
from matcher.engine.holder_index import HolderIndex, OfferPlace
from matcher.engine.pools import MIN_POOL, POOL_PER_RESULT, Pool, Search
from matcher.engine.sweep import match_among
from matcher.engine.upkeep import IndexKeeper
from matcher.errors import MatcherError
from matcher.explain import (
    FIT_THRESHOLDS,
    HAND_FIT_THRESHOLDS,
    MatchFacts,
    Voice,
    describe_relaxation,
    explain,
    fit_label,
    fits_the_project,
)
from matcher.filters import FilterOutcome, hard_filters, located, relaxation_options
from matcher.lexical import stack_rows
from matcher.negation import Negation
from matcher.ranker import FEATURES, Scorer, TrainingSet, feature_matrix
from matcher.scoring import Pairs, components, denied_needs, partner_counts
from matcher.store.catalogue import draft_row
from matcher.store.holders import StoredVector, profile_hash
from matcher.taxonomy import generic_words

log = logging.getLogger(__name__)


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
        scorer: Scorer,
    ):
        self.keeper = keeper
        self.documents = documents
        self.queries = queries
        self._encoder = encoder
        self.scorer = scorer
        self._generic: dict[tuple[str, frozenset[str]], frozenset[str]] = {}
        self.holder_index = HolderIndex(keeper.store, encoder, self.profile_vectors)

    def profile_vectors(self, profiles: list[HolderProfile]) -> np.ndarray:
        """The profiles' vectors, encoding in one batch only those not kept: a stored holder's
        vector is kept in the database (and stored here when it had none, or a stale one), an
        unsaved profile's in memory for a while."""
        encoder = self._encoder()
        vectors = np.zeros((len(profiles), encoder.dim), dtype=np.float32)
        unsaved = [i for i, p in enumerate(profiles) if p.id is None]
        if unsaved:
            vectors[unsaved] = self.queries.vectors(
                [profile_text(profiles[i]) for i in unsaved],
                lambda texts: embed_documents(encoder, [("", t) for t in texts]),
                encoder.dim,
            )
        saved = [i for i, p in enumerate(profiles) if p.id is not None]
        if saved:
            known, fresh = self._holder_vectors([profiles[i] for i in saved], encoder)
            vectors[saved] = known
            try:
                self.keeper.store.holders.save_vectors(fresh, encoder.identity)
            except MatcherError as error:  # the match stands; the next one encodes again
                log.warning("could not store holders' vectors: %s", type(error).__name__)
        return vectors

    def keep_vectors(self, holders: list[HolderProfile]) -> int:
        """Store a vector for each of these stored holders that has no current one; returns how
        many were embedded and stored."""
        encoder = self._encoder()
        _, fresh = self._holder_vectors(holders, encoder)
        return self.keeper.store.holders.save_vectors(fresh, encoder.identity)

    def _holder_vectors(
        self, holders: list[HolderProfile], encoder: Encoder
    ) -> tuple[np.ndarray, dict[str, StoredVector]]:
        """Holders' vectors: the stored ones whose text and encoder are still theirs, the others
        embedded in one batch (returned apart too, to be stored)."""
        stored = self.keeper.store.holders.vectors([h.key for h in holders], encoder.identity, encoder.dim)
        vectors = np.zeros((len(holders), encoder.dim), dtype=np.float32)
        hashes = [profile_hash(h) for h in holders]
        stale = []
        for i, (holder, digest) in enumerate(zip(holders, hashes, strict=True)):
            known = stored.get(holder.key)
            if known is not None and known.text_hash == digest:
                vectors[i] = known.vector
            else:
                stale.append(i)
        fresh: dict[str, StoredVector] = {}
        if stale:
            texts = list(dict.fromkeys(profile_text(holders[i]) for i in stale))
            embedded = dict(zip(texts, embed_documents(encoder, [("", t) for t in texts]), strict=True))
            for i in stale:
                vectors[i] = embedded[profile_text(holders[i])]
                fresh[holders[i].key] = StoredVector(hashes[i], vectors[i])
        return vectors, fresh

    def forget(self, profile: HolderProfile) -> None:
        """Nothing of an erased holder's project stays in memory: its vector, its analysis."""
        text = profile_text(profile)
        self.queries.forget(text)
        index = self.keeper.index
        if index is not None and index.lexical is not None:
            index.lexical.forget(text)

    def match_many(
        self,
        profiles: list[HolderProfile],
        top: int,
        today: date,
        among: set[str] | None = None,
        voice: Voice = "holder",
    ) -> list[MatchResult]:
        """Each profile's ``top`` opportunities; ``among`` restricts them to those ids; ``voice``
        says whom the reasons speak to (the holder, or a territory's officer about them)."""
        self.keeper.catch_up()
        # Encoding runs outside the engine lock: one request's projects are encoded while
        # another's are scored.
        vectors = self.profile_vectors(profiles)
        rejected = self.keeper.store.holders.rejected_by([p.id for p in profiles if p.id])
        with self.keeper.lock.reading():
            search = Search(top=top, today=today, voice=voice)
            if among is not None:
                # Restricted to a few offers (the digest's new ones): all the holders at once.
                return match_among(
                    self,
                    profiles,
                    vectors,
                    [rejected.get(p.id or "", set()) for p in profiles],
                    among,
                    search,
                )
            return [
                self._match_one(Seeker(p, vectors[i : i + 1], rejected.get(p.id or "", set())), search)
                for i, p in enumerate(profiles)
            ]

    def _match_one(self, seeker: Seeker, search: Search) -> MatchResult:
        profile, view = seeker.profile, self.keeper.view
        outcome = hard_filters(profile, view, search.today, seeker.rejected)
        allowed = outcome.allowed_row_ids
        index, _ = self.keeper.loaded()
        similarities, row_ids = index.search(seeker.vector, search.pool, allowed=allowed)
        found = row_ids[0] >= 0
        matches = self._rank(seeker, row_ids[0][found], similarities[0][found], outcome, search)
        relaxations = []
        if len(allowed) < search.top:
            wanted = search.top - len(allowed)
            relaxations = [describe_relaxation(o) for o in relaxation_options(profile, view, outcome, wanted)]
        return MatchResult(
            holder_id=profile.id,
            matches=matches,
            excluded=outcome.excluded,
            relaxations=relaxations,
        )

    def measure(
        self,
        pairs: Pairs,
        row_ids: np.ndarray,
        similarities: np.ndarray,
        distances_km: np.ndarray | None,
        today: date,
    ) -> Pool:
        """Every component of the ``pairs`` (their offers' ``row_ids``, semantic ``similarities``
        and distances from the holder, aligned), and the evidence behind."""
        view = self.keeper.view
        _, lexical_model = self.keeper.loaded()
        distinct, inverse = np.unique(row_ids, return_inverse=True)
        inverse = inverse.ravel()
        found = self.documents.get(distinct.tolist(), self.keeper.store.catalogue.by_row_id, lexical_model)
        documents = [found[i] for i in inverse.tolist()]
        queries = [profile_text(p) for p in pairs.profiles]
        lexical = lexical_model.similarities(queries, stack_rows([d.vector for d in found]))[
            pairs.holder, inverse
        ]
        partners = partner_counts(pairs, view, today)
        # Only offers that state an absence can deny a need: the project is read for those.
        needs: dict[int, frozenset[str]] = {}
        denied: list[list[Negation]] = []
        for holder, document in zip(pairs.holder.tolist(), documents, strict=True):
            if document.absences and holder not in needs:
                housing = " logement" if pairs.profiles[holder].needs_housing else ""
                needs[holder] = lexical_model.stems(queries[holder] + housing)
            denied.append(
                denied_needs(needs[holder], document.absences, lexical_model.stems)
                if document.absences
                else []
            )
        trades = np.array([d.opportunity.trade_code or "" for d in documents], dtype="U8")
        parts = components(
            pairs, view, similarities, lexical, distances_km, partners, today,
            trade_codes=trades, denied=np.array([len(d) for d in denied]),
        )  # fmt: skip
        return Pool(pairs, documents, parts, distances_km, partners, denied, queries)

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
        index, _ = self.keeper.loaded()
        # The semantic component is the closer of the whole offer and its best passage.
        similarities = np.maximum(similarities, index.best_piece(seeker.vector, row_ids))
        positions = self.keeper.view.positions(row_ids)
        pairs = Pairs.of_one(seeker.profile, positions)
        pool = self.measure(pairs, row_ids, similarities, outcome.distances_at(positions), search.today)
        scores = self.scorer.score(pool.parts)
        order = np.argsort(-scores, kind="stable")[: search.top]
        return [
            self.explained(pool, i, float(scores[i]), rank, search)
            for rank, i in enumerate(order.tolist(), 1)
        ]

    def explained(self, pool: Pool, pair: int, score: float, rank: int, search: Search) -> Match:
        """The match of one scored pair, at ``rank``, with its reasons and warnings."""
        _, lexical_model = self.keeper.loaded()
        holder = int(pool.pairs.holder[pair])
        profile = pool.pairs.profiles[holder]
        document = pool.documents[pair]
        opportunity = document.opportunity
        generic = self._generic_stems(opportunity.sector_family, frozenset(profile.trade_codes))
        own = {name: round(float(values[pair]), 4) for name, values in pool.parts.items()}
        distance = (
            None if pool.distances_km is None or not located(profile) else float(pool.distances_km[pair])
        )
        facts = MatchFacts(
            parts=own,
            distance_km=distance,
            partner_count=int(pool.partner_counts[pair]),
            shared_words=lexical_model.shared_words(pool.queries[holder], document.stems - generic),
            denied=pool.denied[pair],
        )
        reasons, warnings = explain(profile, opportunity, facts, search.today, voice=search.voice)
        thresholds = FIT_THRESHOLDS if self.scorer.learned else HAND_FIT_THRESHOLDS
        return Match(
            rank=rank,
            opportunity_id=opportunity.id,
            score=round(score, 4),
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
            fit=fit_label(score, fits_the_project(profile, opportunity, facts), thresholds),
        )

    def _generic_stems(self, family: str | None, kept_trades: frozenset[str]) -> frozenset[str]:
        """Stems of a sector's words for itself and its other trades (never shared words)."""
        if family is None:
            return frozenset()
        key = (family, kept_trades)
        if key not in self._generic:
            _, lexical_model = self.keeper.loaded()
            self._generic[key] = lexical_model.stems(generic_words(family, kept_trades))
        return self._generic[key]

    def training_set(
        self,
        profiles: list[HolderProfile],
        labels: dict[str, dict[str, int]],
        complete: set[str],
        today: date,
    ) -> TrainingSet:
        """Features and grades of each labelled holder's pool, as the search would score it.

        A holder in ``complete`` was judged on everything relevant (a labelled set): the pool's
        unjudged offers count as grade 0. Otherwise (feedback) only the judged offers count.
        """
        self.keeper.refresh()
        vectors = self.profile_vectors(profiles)
        rows: list[tuple[np.ndarray, np.ndarray, str, np.ndarray, np.ndarray]] = []
        with self.keeper.lock.reading():
            view = self.keeper.view
            index, _ = self.keeper.loaded()
            ids = view.arrays["id"]
            for i, profile in enumerate(profiles):
                judged = labels.get(profile.key, {})
                vector = vectors[i : i + 1]
                outcome = hard_filters(profile, view, today)
                pool_rows: np.ndarray = np.zeros(0, dtype=np.int64)
                if profile.key in complete:
                    _, found = index.search(vector, MIN_POOL, allowed=outcome.allowed_row_ids)
                    pool_rows = found[0][found[0] >= 0]
                wanted = view.arrays["row_id"][np.isin(ids, list(judged))]
                row_ids = np.union1d(pool_rows, wanted[np.isin(wanted, list(index.hashes))]).astype(np.int64)
                if len(row_ids) == 0:
                    continue
                similarities = np.maximum(
                    index.vectors(row_ids) @ vector[0], index.best_piece(vector, row_ids)
                )
                positions = view.positions(row_ids)
                pairs = Pairs.of_one(profile, positions)
                pool = self.measure(pairs, row_ids, similarities, outcome.distances_at(positions), today)
                offer_ids = np.array([d.opportunity.id for d in pool.documents])
                grades = np.array([judged.get(o, 0) for o in offer_ids])
                passing = np.isin(row_ids, outcome.allowed_row_ids)
                rows.append((feature_matrix(pool.parts), grades, profile.key, offer_ids, passing))
        if not rows:
            empty = np.zeros(0, dtype="U1")
            return TrainingSet(np.zeros((0, len(FEATURES))), np.zeros(0), empty, empty, np.zeros(0, bool))
        return TrainingSet(
            features=np.vstack([r[0] for r in rows]),
            grades=np.concatenate([r[1] for r in rows]),
            holders=np.concatenate([np.full(len(r[1]), r[2]) for r in rows]),
            offers=np.concatenate([r[3] for r in rows]),
            passing=np.concatenate([r[4] for r in rows]),
        )

    def candidates(
        self, opportunity_id: str, top: int, today: date, pool: int | None = None
    ) -> list[tuple[HolderProfile, Match]]:
        """Holders who agreed to be seen by territories, ranked by how well they fit one offer.

        Each holder's own hard constraints apply: someone whose budget or distance the offer
        breaks is not a candidate. Among those it passes, the ``pool`` closest to the offer
        (``max(top * POOL_PER_RESULT, MIN_POOL)`` by default) are scored as a match would score
        them; reasons speak of the holder to the officer (« Son budget… »).
        """
        self.keeper.store.catalogue.get(opportunity_id)  # NotFound for an unknown id
        self.keeper.catch_up()
        with self.keeper.lock.reading():
            view, (index, _) = self.keeper.view, self.keeper.loaded()
            a = view.arrays
            at = np.flatnonzero(a["id"] == opportunity_id)
            # An offer the catalogue's own filters exclude (archived, expired) has no candidates;
            # nor one not indexed yet, which no match can return either.
            if (
                len(at) == 0
                or a["status"][at[0]] != "published"
                or a["expires_on"][at[0]] < day_number(today)
                or int(a["row_id"][at[0]]) not in index.hashes
            ):
                return []
            i = at[0]
            vector = index.vectors(a["row_id"][at])[0]
            place = OfferPlace(
                kind=str(a["kind"][i]),
                department=str(a["department"][i]),
                region=str(a["region"][i]),
                lat=float(a["lat"][i]),
                lon=float(a["lon"][i]),
                price_eur=float(a["price_eur"][i]),
            )
        holders = self.keeper.store.holders
        size = max(top * POOL_PER_RESULT, MIN_POOL) if pool is None else pool
        closest = self.holder_index.closest(place, vector, size, holders.rejecting(opportunity_id))
        # Scored as stored now (a profile changed since the index read it counts as it is now,
        # one who stopped sharing is out), in id order, as every sharing holder was once scored:
        # equal scores keep that order.
        chosen = [h for h in holders.many([h.key for h in closest]) if h.share_with_territories]
        results = self.match_many(chosen, top=1, today=today, among={opportunity_id}, voice="officer")
        ranked = [(h, r.matches[0]) for h, r in zip(chosen, results, strict=True) if r.matches]
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
