"""Index upkeep: keep the filter arrays and the FAISS index in step with the database.

The database is the source of truth. Before each query a cheap sequence check tells whether
anything changed; then only what changed is re-read and re-embedded. The index is saved to one
file and reloaded at start; a missing, damaged or foreign index is rebuilt, and a long build
saves its progress as it goes, so that a killed one resumes from its last saved batch.

Queries never wait for much embedding: a few changed offers are embedded before the query
answers; many (a bulk import by another process) are embedded by a background thread on a copy
of the index, swapped in at once when it is done, while queries answer on the previous state.
An offer this process writes is applied at once all the same (read your writes).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from filelock import FileLock

from matcher.catalogue import CatalogueView
from matcher.config import PRIVATE_FILE, Settings
from matcher.domain import opportunity_text
from matcher.encoders import Encoder, embed_passages
from matcher.engine.caches import DocumentCache
from matcher.errors import without_data
from matcher.index import VectorIndex
from matcher.lexical import LexicalModel
from matcher.store import OpportunityRow, Store

log = logging.getLogger(__name__)

EMBED_BATCH = 64
#: Changed offers a query embeds itself before it answers; more go to the background.
INLINE_EMBED_LIMIT = EMBED_BATCH
#: A long build saves the index once this long has passed since its last save (about what a
#: kill can lose), and never spends more than a tenth of its time saving.
CHECKPOINT_SECONDS = 30.0
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
    refitted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.rebuilt or self.embedded > 0 or self.removed > 0


class SharedLock:
    """Many readers at once, or one writer alone.

    Queries read together (their searches and products overlap: FAISS and numpy release the
    interpreter); upkeep writes alone, briefly. A waiting writer holds back new readers, so that a
    steady stream of queries never starves an update. Both sides are re-entrant, and the writer
    may read; a reader must not ask to write (it would wait for itself).
    """

    def __init__(self) -> None:
        self._state = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._writes = 0
        self._waiting = 0
        self._local = threading.local()

    @contextmanager
    def reading(self) -> Iterator[None]:
        depth = getattr(self._local, "reads", 0)
        if depth or self._writer == threading.get_ident():
            self._local.reads = depth + 1
            try:
                yield
            finally:
                self._local.reads = depth
            return
        with self._state:
            while self._writer is not None or self._waiting:
                self._state.wait()
            self._readers += 1
        self._local.reads = 1
        try:
            yield
        finally:
            self._local.reads = 0
            with self._state:
                self._readers -= 1
                if not self._readers:
                    self._state.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._state:
            if self._writer != me:
                self._waiting += 1
                while self._writer is not None or self._readers:
                    self._state.wait()
                self._waiting -= 1
                self._writer = me
            self._writes += 1
        try:
            yield
        finally:
            with self._state:
                self._writes -= 1
                if not self._writes:
                    self._writer = None
                    self._state.notify_all()


class IndexKeeper:
    """The catalogue's derived views (filter arrays, vector index) and their upkeep.

    ``lock`` guards both views: queries read them together (``lock.reading()``), upkeep changes
    or swaps them alone (``lock.writing()``, briefly: the long embedding runs on a copy, outside).
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
        self.lock = SharedLock()
        self._file_lock = FileLock(str(settings.home / "index.lock"), timeout=120, mode=PRIVATE_FILE)
        self._background: threading.Thread | None = None
        self._background_lock = threading.Lock()
        # Rows this process wrote and applied ahead of the background catch-up: row id -> seq.
        self._written: dict[int, int] = {}

    def refresh(self, progress: Progress | None = None, full: bool = False) -> SyncReport:
        """Bring the filter arrays and the index up to date with the database, now (the CLI,
        start-up, the digest); a build from scratch saves its progress as it goes."""
        self.wait()
        with self.lock.writing():
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
            self._sync_vectors(index, rows, everything, report, progress, checkpoint=everything)
            if report.refitted:
                self.documents.clear()  # TF-IDF rows of the old vocabulary
            self.index, self.seq = index, seq
            self._written.clear()
            report.indexed = len(index)
            self.dirty |= report.changed or report.refitted
            return report

    def catch_up(self, written: Collection[str] = (), wait: bool = False) -> None:
        """Before a query, or after a write (``written``: the ids of the offers written).

        A few changes are applied now; many are embedded in the background while queries answer
        on the previous state. ``written`` offers are applied now in every case, so that the
        writer's next query sees them; ``wait`` returns only once everything is applied (for the
        writer of a whole import), still without holding queries up.
        """
        if self.index is None:
            self.refresh()
            return
        if not self.catching_up():
            seq = self.store.catalogue.seq()
            if seq == self.seq:
                return
            rows = self.store.catalogue.changed_since(self.seq)
            if self._to_embed(rows) <= INLINE_EMBED_LIMIT:
                self.refresh()
                return
            self._start_background()
        if written:
            self._apply_written(written)
        if wait:
            self.wait()

    def catching_up(self) -> bool:
        """Whether a background catch-up is running."""
        background = self._background
        return background is not None and background.is_alive()

    def wait(self) -> None:
        """Return once no background catch-up is running."""
        background = self._background
        if background is not None and background is not threading.current_thread():
            background.join()

    def _to_embed(self, rows: list[OpportunityRow]) -> int:
        hashes = self.index.hashes if self.index is not None else {}
        return sum(1 for r in rows if r.status != "archived" and hashes.get(r.row_id) != r.text_hash)

    def _start_background(self) -> None:
        with self._background_lock:
            if self.catching_up():
                return
            self._background = threading.Thread(
                target=self._catch_up_in_background, name="matcher-index-catch-up", daemon=True
            )
            self._background.start()

    def _catch_up_in_background(self) -> None:
        """Embed on a copy, outside the lock, and swap it in; again while the database moved."""
        try:
            while True:
                with self.lock.reading():
                    if self.index is None:
                        return
                    base_seq, index, view = self.seq, self.index.copy(), copy.copy(self.view)
                seq = self.store.catalogue.seq()
                if seq == base_seq:
                    return
                rows = self.store.catalogue.changed_since(base_seq)
                report = SyncReport()
                view.upsert(rows)
                self._sync_vectors(index, rows, False, report, None)
                with self.lock.writing():
                    if self.seq != base_seq:
                        continue  # a refresh moved on meanwhile: start again from its state
                    late = [row_id for row_id, written in self._written.items() if written > seq]
                    if late:  # written here after the copy was read: apply them to it too
                        self._apply(index, view, self.store.catalogue.rows_by_row_id(late), report)
                    self._written = {r: w for r, w in self._written.items() if w > seq}
                    self.index, self.view, self.seq = index, view, seq
                    if report.refitted:
                        self.documents.clear()
                    else:
                        self.documents.drop(row.row_id for row in rows)
                    self.dirty |= report.changed or report.refitted
        except Exception as error:  # the next query starts it again; queries go on meanwhile
            log.warning("background index catch-up stopped: %s", without_data(error))

    def _apply_written(self, written: Collection[str]) -> None:
        rows = self.store.catalogue.rows_by_id(list(written))
        with self.lock.writing():
            if self.index is None:
                return
            report = SyncReport()
            self._apply(self.index, self.view, rows, report)
            if report.refitted:
                self.documents.clear()
            self._written.update((row.row_id, row.seq) for row in rows if row.seq > self.seq)
            self.dirty |= report.changed or report.refitted

    def _apply(
        self, index: VectorIndex, view: CatalogueView, rows: list[OpportunityRow], report: SyncReport
    ) -> None:
        view.upsert(rows)
        self.documents.drop(row.row_id for row in rows)
        self._sync_vectors(index, rows, False, report, None)

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
        checkpoint: bool = False,
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
        saved_at, save_cost = time.monotonic(), 0.0
        for start in range(0, len(stale), EMBED_BATCH):
            batch = stale[start : start + EMBED_BATCH]
            records = self.store.catalogue.by_row_id(batch)
            texts.update((r, opportunity_text(records[r])) for r in batch)
            vectors, pieces = embed_passages(encoder, [records[r].document() for r in batch])
            index.upsert(np.asarray(batch, dtype=np.int64), vectors, [wanted[r] for r in batch], pieces)
            report.embedded += len(batch)
            if progress:
                progress(report.embedded, len(stale))
            since = time.monotonic() - saved_at
            due = since >= max(CHECKPOINT_SECONDS, 10 * save_cost)
            if checkpoint and due and report.embedded < len(stale):
                # What a kill loses from here is the batches since: the next build starts
                # from this file (its vectors are known by text hash).
                with self._file_lock:
                    index.save(self.settings.index_path)
                save_cost = time.monotonic() - saved_at - since
                saved_at = time.monotonic()
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
        report.refitted = True  # the caller drops the TF-IDF rows of the old vocabulary
        report.notes.append(f"modèle lexical réajusté sur {n} offres")

    def loaded(self) -> tuple[VectorIndex, LexicalModel]:
        """The index and its lexical model, as the last refresh left them."""
        index = self.index
        if index is None or index.lexical is None:
            raise RuntimeError("index not loaded: refresh() first")
        return index, index.lexical

    def save(self) -> bool:
        """Write the index if it changed since loaded; returns whether it wrote."""
        self.wait()
        with self.lock.reading():  # queries go on while the file is written
            if self.index is None or not self.dirty:
                return False
            with self._file_lock:
                self.index.save(self.settings.index_path)
            self.dirty = False
            return True
