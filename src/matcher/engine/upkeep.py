"""Index upkeep: keep the filter arrays and the FAISS index in step with the database.

The database is the source of truth. Before each query a cheap sequence check tells whether
anything changed; then only what changed is re-read and re-embedded. The index is saved to one
file and reloaded at start; a missing, damaged or foreign index is rebuilt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from filelock import FileLock

from matcher.catalogue import CatalogueView
from matcher.config import PRIVATE_FILE, Settings
from matcher.domain import opportunity_text
from matcher.encoders import Encoder, embed_passages
from matcher.engine.caches import DocumentCache
from matcher.index import VectorIndex
from matcher.lexical import LexicalModel
from matcher.store import OpportunityRow, Store

EMBED_BATCH = 64
#: Refit the lexical model when the catalogue has grown or shrunk by this share since.
LEXICAL_REFIT_SHARE = 0.1

Progress = Callable[[int, int], None]


@dataclass
class SyncReport:
    """What bringing the index up to date did."""

    rebuilt: bool = False
    reason: str = ""
    embedded: int = 0
    removed: int = 0
    indexed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.rebuilt or self.embedded > 0 or self.removed > 0


class IndexKeeper:
    """The catalogue's derived views (filter arrays, vector index) and their upkeep.

    ``lock`` guards both views: ranking holds it while it reads them.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        encoder: Callable[[], Encoder],
        documents: DocumentCache,
    ):
        self.settings = settings
        self.store = store
        self._encoder = encoder
        self.documents = documents
        self.view = CatalogueView()
        self.index: VectorIndex | None = None
        self.seq = -1
        self.dirty = False
        self.lock = threading.RLock()
        self._file_lock = FileLock(str(settings.home / "index.lock"), timeout=120, mode=PRIVATE_FILE)

    def refresh(self, progress: Progress | None = None, full: bool = False) -> SyncReport:
        """Bring the filter arrays and the index up to date with the database."""
        with self.lock:
            seq = self.store.catalogue.seq()
            if self.index is not None and seq == self.seq and not full:
                return SyncReport(indexed=len(self.index))
            everything = self.index is None or full
            rows = self.store.catalogue.changed_since(0 if everything else self.seq)
            report = SyncReport()
            if everything or self.index is None:
                self.view = CatalogueView()
                index, report.reason = self._load(full)
                report.rebuilt = bool(report.reason)
                self.documents.clear()
            else:
                index = self.index
            self.view.upsert(rows)
            self.documents.drop(row.row_id for row in rows)
            self._sync_vectors(index, rows, everything, report, progress)
            self.index, self.seq = index, seq
            report.indexed = len(index)
            self.dirty |= report.changed
            return report

    def _load(self, full: bool) -> tuple[VectorIndex, str]:
        """The saved index, or a fresh one and the reason the saved one cannot serve."""
        encoder = self._encoder()
        path = self.settings.index_path
        with self._file_lock:
            VectorIndex.remove_stale_files(path)
        fresh = VectorIndex(encoder.dim, encoder.identity)
        if full:
            return fresh, "reconstruction demandée"
        if not path.exists():
            return fresh, "index absent"
        try:
            with self._file_lock:
                index = VectorIndex.load(path)
        except ValueError as error:
            return fresh, str(error)
        if index.encoder_identity != encoder.identity:
            return fresh, f"encodeur changé ({index.encoder_identity} → {encoder.identity})"
        return index, ""

    def _sync_vectors(
        self,
        index: VectorIndex,
        rows: list[OpportunityRow],
        everything: bool,
        report: SyncReport,
        progress: Progress | None,
    ) -> None:
        wanted = {r.row_id: r.text_hash for r in rows if r.status != "archived"}
        if everything:
            # ``rows`` is the whole table: whatever else the index holds was deleted or
            # archived behind the engine's back while the index sat on disk.
            leaving = [row_id for row_id in index.hashes if row_id not in wanted]
        else:
            leaving = [r.row_id for r in rows if r.status == "archived" and r.row_id in index.hashes]
        stale = [row_id for row_id, digest in wanted.items() if index.hashes.get(row_id) != digest]
        if leaving:
            index.remove(np.asarray(leaving, dtype=np.int64))
            report.removed = len(leaving)
        texts: dict[int, str] = {}  # read once, for the lexical model too
        encoder = self._encoder()
        for start in range(0, len(stale), EMBED_BATCH):
            batch = stale[start : start + EMBED_BATCH]
            records = self.store.catalogue.by_row_id(batch)
            texts.update((r, opportunity_text(records[r])) for r in batch)
            vectors, pieces = embed_passages(encoder, [records[r].document() for r in batch])
            index.upsert(np.asarray(batch, dtype=np.int64), vectors, [wanted[r] for r in batch], pieces)
            report.embedded += len(batch)
            if progress:
                progress(report.embedded, len(stale))
        if progress and not stale:
            progress(0, 0)
        self._refit_lexical_if_needed(index, report, texts)

    def _refit_lexical_if_needed(self, index: VectorIndex, report: SyncReport, texts: dict[int, str]) -> None:
        """Refit TF-IDF on the indexed offers when the catalogue's size moved; ``texts`` are
        those already read."""
        n = len(index)
        if index.lexical is not None:
            fitted = index.lexical.n_documents_
            if abs(n - fitted) <= LEXICAL_REFIT_SHARE * max(fitted, 1):
                return
        missing = [row_id for row_id in index.hashes if row_id not in texts]
        texts.update((r, opportunity_text(o)) for r, o in self.store.catalogue.by_row_id(missing).items())
        index.lexical = LexicalModel().fit([texts[row_id] for row_id in index.hashes])
        self.documents.clear()  # TF-IDF rows of the old vocabulary
        report.notes.append(f"modèle lexical réajusté sur {n} offres")
        self.dirty = True

    def loaded(self) -> tuple[VectorIndex, LexicalModel]:
        """The index and its lexical model, as the last refresh left them."""
        index = self.index
        if index is None or index.lexical is None:
            raise RuntimeError("index not loaded: refresh() first")
        return index, index.lexical

    def save(self) -> bool:
        """Write the index if it changed since loaded; returns whether it wrote."""
        with self.lock:
            if self.index is None or not self.dirty:
                return False
            with self._file_lock:
                self.index.save(self.settings.index_path)
            self.dirty = False
            return True
