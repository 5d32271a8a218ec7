"""The rankers the quality report compares: baselines, the shipped engine and its ablations.

Every ranker sees the same loaded home (one database, one index, one encoder) and returns, for
each holder, the ``top`` opportunity ids best first. Baselines rank among the opportunities that
pass the holder's hard filters (``matcher.filters``), so that they differ from the engine only in
how they order, never in what they may show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from evaluation.peer import PeerUnavailable, minilm_path
from matcher.config import Settings
from matcher.domain import HolderProfile, Opportunity, opportunity_text, profile_text
from matcher.encoders import Encoder, embed_documents
from matcher.engine import Engine
from matcher.filters import hard_filters
from matcher.lexical import FRENCH_STOP_WORDS
from matcher.ranker import FEATURES, LearnedRanker
from matcher.scoring import COMPONENTS, DEFAULT_WEIGHTS, Weights

#: holder id -> opportunity ids, best first.
Ranking = dict[str, list[str]]


@dataclass
class Bench:
    """What every ranker shares: the engine over the loaded home, its encoder, the holders."""

    engine: Engine
    settings: Settings
    encoder: Encoder
    holders: list[HolderProfile]
    opportunities: dict[str, Opportunity]
    today: date
    top: int = 10
    seed: int = 0
    #: The graded judgments, for the ranker trained by cross-validation on them.
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    _passing: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    _queries: np.ndarray | None = None

    def passing(self, holder: HolderProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(catalogue positions, opportunity ids, distances km of those) passing the hard filters."""
        key = holder.id or str(id(holder))
        if key not in self._passing:
            outcome = hard_filters(holder, self.engine.view, self.today)
            positions = np.flatnonzero(outcome.passing)
            ids = self.engine.view.arrays["id"][positions]
            distances = None if outcome.distances_km is None else outcome.distances_km[positions]
            self._passing[key] = (positions, ids, distances)
        return self._passing[key]

    @property
    def query_vectors(self) -> np.ndarray:
        """Each holder's text embedded as the engine embeds it (USE)."""
        if self._queries is None:
            self._queries = embed_documents(self.encoder, [("", profile_text(h)) for h in self.holders])
        return self._queries

    def best(self, holder: HolderProfile, ids: np.ndarray, scores: np.ndarray) -> list[str]:
        """The ``top`` ids by descending score (ties keep catalogue order)."""
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[: self.top]
        return [str(ids[i]) for i in order]


class Skipped(Exception):
    """A ranker that cannot run here (a missing optional extra); the message says why."""


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    rank: Callable[[Bench], Ranking]


# --- baselines -------------------------------------------------------------------------------


def rank_random(bench: Bench) -> Ranking:
    ranking = {}
    for i, holder in enumerate(bench.holders):
        _, ids, _ = bench.passing(holder)
        rng = np.random.default_rng([bench.seed, i])
        ranking[holder.id] = [str(x) for x in rng.permutation(ids)[: bench.top]]
    return ranking


def rank_by_distance(bench: Bench) -> Ranking:
    ranking = {}
    for holder in bench.holders:
        _, ids, distances = bench.passing(holder)
        scores = np.zeros(len(ids)) if distances is None else -distances
        ranking[holder.id] = bench.best(holder, ids, scores)
    return ranking


def _rank_by_tfidf(bench: Bench, vectorizer: TfidfVectorizer) -> Ranking:
    catalogue_ids = bench.engine.view.arrays["id"]
    documents = [opportunity_text(bench.opportunities[str(i)]) for i in catalogue_ids]
    matrix = vectorizer.fit_transform(documents)
    queries = vectorizer.transform([profile_text(h) for h in bench.holders])
    similarities = (queries @ matrix.T).toarray()  # rows are L2-normalised: cosine
    ranking = {}
    for row, holder in enumerate(bench.holders):
        positions, ids, _ = bench.passing(holder)
        ranking[holder.id] = bench.best(holder, ids, similarities[row, positions])
    return ranking


def rank_tfidf_words(bench: Bench) -> Ranking:
    vectorizer = TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words=sorted(FRENCH_STOP_WORDS),
        sublinear_tf=True,
        token_pattern=r"(?u)\b\w\w\w+\b",
    )
    return _rank_by_tfidf(bench, vectorizer)


def rank_tfidf_chars(bench: Bench) -> Ranking:
    vectorizer = TfidfVectorizer(
        strip_accents="unicode", lowercase=True, analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True
    )
    return _rank_by_tfidf(bench, vectorizer)


def _rank_by_vectors(bench: Bench, documents: np.ndarray, queries: np.ndarray) -> Ranking:
    """Cosine similarity of normalised vectors; ``documents`` rows follow the catalogue positions."""
    ranking = {}
    for row, holder in enumerate(bench.holders):
        positions, ids, _ = bench.passing(holder)
        ranking[holder.id] = bench.best(holder, ids, documents[positions] @ queries[row])
    return ranking


def rank_use(bench: Bench) -> Ranking:
    """The engine's own USE vectors, read back from its index (archived rows are never indexed)."""
    index = bench.engine.index
    row_ids = bench.engine.view.arrays["row_id"]
    documents = np.zeros((len(row_ids), index.dim), dtype=np.float32)
    present = np.asarray([r in index.hashes for r in row_ids.tolist()], dtype=bool)
    documents[present] = index.vectors(row_ids[present])
    return _rank_by_vectors(bench, documents, bench.query_vectors)


def rank_minilm(bench: Bench) -> Ranking:
    try:
        path = minilm_path()
    except PeerUnavailable:
        raise Skipped("extra « transformers » absent : pip install -e '.[transformers]'") from None
    from matcher.encoders import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder(path)
    catalogue_ids = bench.engine.view.arrays["id"]
    documents = embed_documents(encoder, [bench.opportunities[str(i)].document() for i in catalogue_ids])
    queries = embed_documents(encoder, [("", profile_text(h)) for h in bench.holders])
    return _rank_by_vectors(bench, documents, queries)


# --- the engine ------------------------------------------------------------------------------


def engine_ranker(weights: Weights | None = None) -> Callable[[Bench], Ranking]:
    """The real engine (``Engine.match_many``), with the shipped weights or others."""

    def rank(bench: Bench) -> Ranking:
        if weights is None:
            engine, own = bench.engine, False
        else:
            engine, own = Engine(bench.settings, bench.encoder, weights=weights), True
        try:
            results = engine.match_many(bench.holders, top=bench.top, today=bench.today)
        finally:
            if own:
                engine.close()
        return {
            holder.id: [m.opportunity_id for m in result.matches]
            for holder, result in zip(bench.holders, results, strict=True)
        }

    return rank


def cross_validated(without: str | None = None) -> Callable[[Bench], Ranking]:
    """The learned ranker's recipe trained on this very set, each holder ranked by a model that
    never saw them (grouped 5-fold cross-validation), among the offers passing their filters;
    ``without``: that feature held at 0, so the model cannot use it (an ablation)."""

    def rank(bench: Bench) -> Ranking:
        if not bench.qrels:
            raise Skipped("pas de jugements")
        data = bench.engine.ranker.training_set(bench.holders, bench.qrels, set(bench.qrels), bench.today)
        features = data.features.copy()
        if without is not None:
            features[:, FEATURES.index(without)] = 0.0
        model = LearnedRanker().fit(features, data.grades, data.holders)
        ranking = {}
        for holder in bench.holders:
            rows = np.flatnonzero((data.holders == holder.id) & data.passing)
            order = rows[np.argsort(-model.oof_[rows], kind="stable")][: bench.top]
            ranking[holder.id] = [str(data.offers[i]) for i in order]
        return ranking

    return rank


DEFAULT = "default"


def methods() -> list[Method]:
    """Every ranker of the report, baselines first, then the shipped default and its ablations."""
    found = [
        Method("random", "random order among the offers passing the hard filters (seeded)", rank_random),
        Method("filters-distance", "hard filters only, nearest first", rank_by_distance),
        Method("tfidf-words", "TF-IDF on words (scikit-learn), among those passing", rank_tfidf_words),
        Method("tfidf-chars", "TF-IDF on character 3-5-grams, among those passing", rank_tfidf_chars),
        Method(
            "minilm-en", "English all-MiniLM-L6-v2 (sentence-transformers), among those passing", rank_minilm
        ),
        Method(
            "use-only", "multilingual USE cosine alone (the engine's vectors), among those passing", rank_use
        ),
        Method(DEFAULT, "the shipped engine: Engine.match with the shipped learned ranker", engine_ranker()),
        Method(
            "hand-weights",
            "the engine with scoring.DEFAULT_WEIGHTS (the fallback)",
            engine_ranker(DEFAULT_WEIGHTS),
        ),
        Method(
            "ranker-cv",
            "the learned ranker's recipe cross-validated by holder on this set "
            "(never a holder in train and test)",
            cross_validated(),
        ),
        *(
            Method(
                f"ranker-cv-without-{feature}",
                f"the cross-validated learned ranker with the {feature} feature held at 0",
                cross_validated(feature),
            )
            for feature in ("trade", "other_trade", "denied_need", "lexical")
        ),
    ]
    for component in COMPONENTS:
        weights = dataclasses.replace(DEFAULT_WEIGHTS, **{component: 0.0})
        found.append(
            Method(
                f"without-{component}",
                f"the hand weights with the {component} weight set to 0",
                engine_ranker(weights),
            )
        )
    return found
