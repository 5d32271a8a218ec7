"""What the engine keeps ready between queries: scored opportunities and embedded profile texts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from matcher.domain import Opportunity, opportunity_text
from matcher.lexical import LexicalModel
from matcher.negation import Negation, negations

#: Opportunities kept ready for scoring (record, TF-IDF row, stems).
DOCUMENT_CACHE_SIZE = 20_000
QUERY_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Document:
    """An opportunity as scoring reads it: the record, its TF-IDF row, its stems and what it
    says it lacks."""

    opportunity: Opportunity
    vector: sparse.csr_matrix
    stems: frozenset[str]
    absences: tuple[Negation, ...] = ()


class DocumentCache:
    """Recently scored opportunities by row id, so that a query reads and analyses only new ones.

    Thread-safe on its own: queries read the engine's views together."""

    def __init__(self, capacity: int = DOCUMENT_CACHE_SIZE):
        self.capacity = capacity
        self._documents: OrderedDict[int, Document] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        row_ids: list[int],
        load: Callable[[list[int]], dict[int, Opportunity]],
        lexical: LexicalModel,
    ) -> list[Document]:
        """The scoring view of these opportunities; those not cached are read once with ``load``."""
        with self._lock:
            found = {r: self._documents[r] for r in row_ids if r in self._documents}
        missing = [r for r in row_ids if r not in found]
        if missing:
            records = load(missing)
            texts = [opportunity_text(records[r]) for r in missing]
            vectors = lexical.transform(texts)
            for i, (row_id, text) in enumerate(zip(missing, texts, strict=True)):
                found[row_id] = Document(records[row_id], vectors[i], lexical.stems(text), negations(text))
        with self._lock:
            for row_id in row_ids:
                self._documents[row_id] = found[row_id]
                self._documents.move_to_end(row_id)
            while len(self._documents) > self.capacity:
                self._documents.popitem(last=False)
        return [found[r] for r in row_ids]

    def drop(self, row_ids: Iterable[int]) -> None:
        with self._lock:
            for row_id in row_ids:
                self._documents.pop(row_id, None)

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()


class QueryCache:
    """Recently embedded profile texts (a counsellor asks again, the digest batches).

    Thread-safe on its own: encoding runs outside the engine lock.
    """

    def __init__(self, capacity: int = QUERY_CACHE_SIZE):
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def forget(self, text: str) -> None:
        """Drop one text (an erased holder's project): nothing of them stays in memory."""
        with self._lock:
            self._vectors.pop(text, None)

    def vectors(self, texts: list[str], embed: Callable[[list[str]], np.ndarray], dim: int) -> np.ndarray:
        """One row per text, embedding in one batch only the texts not seen recently."""
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, embed(missing), strict=True))
        with self._lock:
            for text in texts:
                self._vectors[text] = known[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32)
