"""A batch of holders against a few offers at once (the digest's new ones, an offer's candidates).

The same ranking as one holder's search restricted to those offers, computed for the whole
batch in a few array operations: the hard filters as (holders x offers) masks, one similarity
product, each holder's pool the closest passing offers (as the filtered vector search returns
them), the soft components and the scorer over every pair of the batch in one pass; reasons only
for the matches kept.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from matcher.domain import HolderProfile, Match, MatchResult
from matcher.engine.pools import Pool, Search
from matcher.engine.upkeep import IndexKeeper
from matcher.filters import filter_grid
from matcher.ranker import Scorer
from matcher.scoring import Pairs


class PoolRanker(Protocol):
    """What the batch needs of the ranker: its views, its scorer, how it measures and explains."""

    keeper: IndexKeeper
    scorer: Scorer

    def measure(
        self,
        pairs: Pairs,
        row_ids: np.ndarray,
        similarities: np.ndarray,
        distances_km: np.ndarray | None,
        today: date,
    ) -> Pool: ...

    def explained(self, pool: Pool, pair: int, score: float, rank: int, search: Search) -> Match: ...


def closest(similarities: np.ndarray, passing: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(holder, column) of each holder's ``size`` most similar passing columns, holder by holder,
    the most similar first (ties in column order), as the filtered search would return them."""
    masked = np.where(passing, similarities, -np.inf)
    if masked.shape[1] > size:
        kept = np.argpartition(-masked, size - 1, axis=1)[:, :size]
        kept.sort(axis=1)  # column order first, so that the stable sort keeps it for ties
    else:
        kept = np.broadcast_to(np.arange(masked.shape[1]), masked.shape)
    chosen = np.take_along_axis(masked, kept, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    columns = np.take_along_axis(kept, order, axis=1)
    holders, slots = np.nonzero(np.take_along_axis(passing, columns, axis=1))
    return holders, columns[holders, slots]


#: Holders per similarity product: (holders x offers) arrays stay a few megabytes.
HOLDERS_PER_PRODUCT = 256


def match_among(
    ranker: PoolRanker,
    profiles: list[HolderProfile],
    vectors: np.ndarray,
    rejected: Sequence[Collection[str]],
    among: Collection[str],
    search: Search,
) -> list[MatchResult]:
    """Each profile's ``search.top`` matches among the offers ``among`` (their ``vectors`` and what
    they marked not relevant, ``rejected``, aligned with ``profiles``)."""
    view = ranker.keeper.view
    index, _ = ranker.keeper.loaded()
    positions = np.flatnonzero(np.isin(view.arrays["id"], list(among)))
    # Offers not embedded yet cannot be found by meaning: left out, as the vector search does.
    row_ids = view.arrays["row_id"][positions]
    columns = np.flatnonzero([r in index.hashes for r in row_ids.tolist()])
    offers = Offers(positions, columns, row_ids[columns], index.vectors(row_ids[columns]))
    results: list[MatchResult] = []
    for start in range(0, len(profiles), HOLDERS_PER_PRODUCT):
        chosen = slice(start, start + HOLDERS_PER_PRODUCT)
        results += _match_batch(ranker, profiles[chosen], vectors[chosen], rejected[chosen], offers, search)
    return results


@dataclass(frozen=True)
class Offers:
    """The offers matched against: their sorted catalogue ``positions``; ``columns``, those of
    them indexed, with their ``row_ids`` and stored ``vectors``."""

    positions: np.ndarray
    columns: np.ndarray
    row_ids: np.ndarray
    vectors: np.ndarray


def _match_batch(
    ranker: PoolRanker,
    profiles: list[HolderProfile],
    vectors: np.ndarray,
    rejected: Sequence[Collection[str]],
    offers: Offers,
    search: Search,
) -> list[MatchResult]:
    index, _ = ranker.keeper.loaded()
    grid = filter_grid(profiles, ranker.keeper.view, search.today, rejected, offers.positions)
    matches: list[list[Match]] = [[] for _ in profiles]
    similarities = vectors @ offers.vectors.T
    holders, kept = closest(similarities, grid.passing[:, offers.columns], search.pool)
    if len(holders):
        # The semantic component is the closer of the whole offer and its best passage.
        semantic = np.maximum(similarities, index.best_pieces(vectors, offers.row_ids))[holders, kept]
        columns = offers.columns[kept]
        pairs = Pairs(profiles, holders, offers.positions[columns])
        distances = None if grid.distances_km is None else grid.distances_km[holders, columns]
        pool = ranker.measure(pairs, offers.row_ids[kept], semantic, distances, search.today)
        scores = ranker.scorer.score(pool.parts)
        # Holder by holder, the best first; a holder's pairs keep their pool order on ties.
        order = np.lexsort((-scores, holders))
        ranked = holders[order]
        rank = np.arange(len(order)) - np.searchsorted(ranked, ranked)
        shown = rank < search.top
        for pair, holder, place in zip(
            order[shown].tolist(), ranked[shown].tolist(), rank[shown].tolist(), strict=True
        ):
            matches[holder].append(ranker.explained(pool, pair, float(scores[pair]), place + 1, search))
    return [
        MatchResult(holder_id=p.id, matches=matches[h], excluded=grid.excluded_for(h), relaxations=[])
        for h, p in enumerate(profiles)
    ]
