"""Lexical overlap: a French-aware TF-IDF over the catalogue (scikit-learn estimator style)."""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import snowballstemmer
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.negation import negated_spans

#: Function words that carry no topic in a listing or a project.
FRENCH_STOP_WORDS = frozenset(
    """
    a ai aie aient aies ait alors as au aucun aucune aupres aura aurai auraient aurais
    aurait aux avais avait avant avec avez avoir avons ayant bien bon car ce ceci cela celle
    celles celui cependant ces cet cette ceux chaque chez ci comme comment dans de debut
    dedans dehors depuis des deux devrait doit donc dont du elle elles en encore entre est
    et etaient etais etait etant ete etre eu eux fait faire fais faut font hors ici il ils
    je jusqu juste la le les leur leurs lui ma mais me meme memes mes moi moins mon ne ni
    nos notre nous on ont ou par parce pas peu peut plus pour pourquoi puis quand que quel
    quelle quelles quels qui sa sans se sera ses si sien son sont sous soyez sur ta tandis
    te tellement tels tes toi ton tous tout toute toutes tres trop tu un une vers voici
    voila vont vos votre vous vu y ca cest jai nest quil quon ans an etc afin ainsi aussi
    autre autres beaucoup souhaite souhaitons voudrais veux veut aimerais aimerait envie
    projet
    """.split()  # noqa: SIM905
) | frozenset(
    # Everyday words of projects and listings that say nothing about the activity itself:
    # sharing them is no reason to match.
    """
    loin pres proche grand grande grands grandes petit petite petits petites centre vie ville
    gens besoin besoins travail travailler temps annee annees jour jours semaine semaines mois
    moment chose choses place coin endroit trouver pouvoir aller venir vraiment toujours jamais
    deja plutot prochain prochaine heure heures minute minutes fois bonne bon bien mieux tres
    vouloir aimer faut pourrait pourrais peux peut avoir etre nouveau nouvelle nouveaux
    possible moins plus premier premiere dernier derniere dix vingt trente cent mille
    """.split()  # noqa: SIM905
)

_WORD = re.compile(r"[a-z0-9]+")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


_STEMMER = snowballstemmer.stemmer("french")


@lru_cache(maxsize=200_000)
def _stem(surface: str) -> str | None:
    """The stem of a lower-case word, or None for a stop word; cached (words recur a lot)."""
    folded = _fold(surface)
    if len(folded) < 3 or folded in FRENCH_STOP_WORDS or not _WORD.fullmatch(folded):
        return None
    return _STEMMER.stemWord(folded)


@lru_cache(maxsize=8192)
def _words(text: str) -> tuple[tuple[str, str], ...]:
    # Kept: a query's project is analysed for its similarity, its needs and each shown reason.
    lowered = text.lower()
    spans = negated_spans(lowered)
    pairs = []
    for match in re.finditer(r"[\wÀ-ÿ]+", lowered):
        if spans and any(start <= match.start() < end for start, end in spans):
            continue
        stem = _stem(match.group())
        if stem is not None:
            pairs.append((stem, match.group()))
    return tuple(pairs)


class FrenchAnalyzer:
    """Lower-cases, drops accents and stop words, stems with Snowball; remembers surface forms."""

    def words(self, text: str) -> tuple[tuple[str, str], ...]:
        """(stem, surface word) pairs of the meaningful words of ``text``; words the text says
        are absent (« pas de fournil ») are not among them: sharing them is no match."""
        return _words(text)

    def __call__(self, text: str) -> list[str]:
        return [stem for stem, _ in self.words(text)]


#: Query TF-IDF rows a model keeps.
QUERY_ROWS_KEPT = 4096


def stack_rows(rows: list[sparse.csr_matrix]) -> sparse.csr_matrix:
    """One-row CSR matrices stacked into one, by concatenating their arrays (``sparse.vstack``
    costs a hundred times more for a pool of fifty rows)."""
    if not rows:
        return sparse.csr_matrix((0, 1))
    indptr = np.concatenate([[0], np.cumsum([r.nnz for r in rows])])
    indices = np.concatenate([r.indices for r in rows])
    data = np.concatenate([r.data for r in rows])
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), rows[0].shape[1]))


class LexicalModel:
    """TF-IDF over stems, fitted on the catalogue; similarity and shared words for a query."""

    def __init__(self, sublinear_tf: bool = True, min_df: int = 1):
        self.sublinear_tf = sublinear_tf
        self.min_df = min_df
        self._query_rows: OrderedDict[str, sparse.csr_matrix] = OrderedDict()

    def fit(self, documents: list[str]) -> LexicalModel:
        self._query_rows.clear()  # rows of the old vocabulary
        self.n_documents_ = len(documents)
        self.analyzer_ = FrenchAnalyzer()
        self.vectorizer_ = TfidfVectorizer(
            analyzer=self.analyzer_, sublinear_tf=self.sublinear_tf, min_df=self.min_df
        )
        try:
            self.vectorizer_.fit(documents)
        except ValueError:  # no document, or nothing but stop words: no vocabulary yet
            self.vectorizer_ = None
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The learned state as plain arrays (vocabulary, idf, settings), for a file that is read
        without unpickling anything."""
        terms = (
            []
            if self.vectorizer_ is None
            else sorted(self.vectorizer_.vocabulary_, key=self.vectorizer_.vocabulary_.get)
        )
        idf = np.zeros(0) if self.vectorizer_ is None else np.asarray(self.vectorizer_.idf_, dtype=np.float64)
        return {
            "lexical_terms": np.array(terms, dtype=np.str_),
            "lexical_idf": idf,
            "lexical_settings": np.array([self.sublinear_tf, self.min_df, self.n_documents_], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LexicalModel:
        """The model ``to_arrays`` saved, as fitted."""
        sublinear_tf, min_df, n_documents = (int(v) for v in arrays["lexical_settings"])
        model = cls(sublinear_tf=bool(sublinear_tf), min_df=min_df)
        model.n_documents_ = n_documents
        model.analyzer_ = FrenchAnalyzer()
        terms = arrays["lexical_terms"].tolist()
        if not terms:
            model.vectorizer_ = None
            return model
        if len(terms) != len(arrays["lexical_idf"]):
            raise ValueError("modèle lexical incohérent : vocabulaire et poids de tailles différentes")
        model.vectorizer_ = TfidfVectorizer(
            analyzer=model.analyzer_, sublinear_tf=model.sublinear_tf, min_df=min_df
        )
        model.vectorizer_.vocabulary_ = {term: i for i, term in enumerate(terms)}
        model.vectorizer_.idf_ = arrays["lexical_idf"]
        return model

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        """L2-normalised TF-IDF rows of ``texts`` (all zeros before any vocabulary)."""
        if self.vectorizer_ is None:
            return sparse.csr_matrix((len(texts), 1), dtype=np.float64)
        return self.vectorizer_.transform(texts)

    def stems(self, text: str) -> frozenset[str]:
        return frozenset(stem for stem, _ in self.analyzer_.words(text))

    def similarity(self, query: str, documents: sparse.csr_matrix) -> np.ndarray:
        """Cosine similarity of ``query`` to each row of ``transform``-ed documents, in [0, 1]."""
        return self.similarities([query], documents)[0]

    def similarities(self, queries: list[str], documents: sparse.csr_matrix) -> np.ndarray:
        """(queries x documents) cosine similarities, in one sparse product."""
        if documents.shape[0] == 0 or self.vectorizer_ is None:
            return np.zeros((len(queries), documents.shape[0]), dtype=np.float32)
        rows = stack_rows([self._query_row(query) for query in queries])
        return np.asarray((documents @ rows.T).todense(), dtype=np.float32).T

    def forget(self, query: str) -> None:
        """Drop what is kept of one project (an erased holder's): its row here, and every text's
        analysed words (they cannot be dropped one by one, and are quick to analyse again)."""
        self._query_rows.pop(query, None)
        _words.cache_clear()

    def _query_row(self, query: str) -> sparse.csr_matrix:
        # The same projects come back (a counsellor asks again, the digest's weeks): their TF-IDF
        # row is kept, as long as this model (a refit replaces the model and its rows).
        rows = self._query_rows
        row = rows.get(query)
        if row is None:
            row = rows[query] = self.vectorizer_.transform([query])
            if len(rows) > QUERY_ROWS_KEPT:
                rows.popitem(last=False)
        return row

    def shared_words(self, query: str, document_stems: frozenset[str], limit: int = 3) -> list[str]:
        """Words of the query whose stems also occur in the document, the rarest first."""
        if self.vectorizer_ is None:
            return []
        vocabulary, idf = self.vectorizer_.vocabulary_, self.vectorizer_.idf_
        shared: dict[str, tuple[float, str]] = {}
        for stem, surface in self.analyzer_.words(query):
            if stem in document_stems and stem in vocabulary and stem not in shared:
                shared[stem] = (float(idf[vocabulary[stem]]), surface)
        ranked = sorted(shared.values(), key=lambda weighted: -weighted[0])
        return [surface for _, surface in ranked[:limit]]
