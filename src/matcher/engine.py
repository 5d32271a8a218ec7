"""The one façade every interface calls: import, refresh the index, match profiles.

The database is the source of truth. The engine keeps two derived views of the catalogue in
memory (filter arrays and the FAISS index) and brings them up to date before each query: a
cheap sequence check, then only what changed is re-read and re-embedded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock
from scipy import sparse

from matcher.catalogue import CatalogueView
from matcher.config import Settings
from matcher.domain import HolderProfile, Match, MatchResult, Opportunity
from matcher.encoders import Encoder, embed_documents, embed_passages, load_encoder
from matcher.explain import describe_relaxation, explain
from matcher.filters import FilterOutcome, hard_filters, relaxation_options
from matcher.geo import Gazetteer, read_communes_csv
from matcher.index import VectorIndex
from matcher.lexical import LexicalModel
from matcher.scoring import DEFAULT_WEIGHTS, Weights, components, final_scores, partner_offers
from matcher.store import CommuneRow, OpportunityRow, Store

#: How many semantic neighbours are re-scored with the soft features, per result wanted.
POOL_PER_RESULT = 5
MIN_POOL = 50
EMBED_BATCH = 64
#: Opportunities kept ready for scoring (record, TF-IDF row, stems).
DOCUMENT_CACHE_SIZE = 20_000
QUERY_CACHE_SIZE = 10_000
#: Refit the lexical model when the catalogue has grown or shrunk by this share since.
LEXICAL_REFIT_SHARE = 0.1

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Document:
    """An opportunity as scoring reads it: the record, its TF-IDF row and its stems."""

    opportunity: Opportunity
    vector: sparse.csr_matrix
    stems: frozenset[str]


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


def profile_text(profile: HolderProfile) -> str:
    return "\n".join(t for t in (profile.project, profile.experience) if t)


def opportunity_text(opportunity: Opportunity) -> str:
    return "\n".join(opportunity.document())


class Engine:
    """Catalogue, holders and matching over one ``MATCHER_HOME``."""

    def __init__(
        self, settings: Settings, encoder: Encoder | None = None, weights: Weights = DEFAULT_WEIGHTS
    ):
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url)
        self.weights = weights
        self._encoder = encoder
        self._gazetteer: Gazetteer | None = None
        self._gazetteer_size = 0
        self.view = CatalogueView()
        self.index: VectorIndex | None = None
        self._seq = -1
        self._dirty = False
        # Recently scored opportunities, so that a query reads and analyses only new ones.
        self._cache: OrderedDict[int, Document] = OrderedDict()
        # Recently embedded profile texts (a counsellor asks again, the digest batches).
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()
        self._lock = threading.RLock()
        self._file_lock = FileLock(str(settings.home / "index.lock"), timeout=120)

    def close(self) -> None:
        self.store.close()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._lock:  # loaded once even when two requests arrive together
                if self._encoder is None:
                    self._encoder = load_encoder(self.settings.encoder)
        return self._encoder

    @property
    def indexed_seq(self) -> int | None:
        """The catalogue sequence number the in-memory index reflects (None before loading)."""
        return None if self.index is None else self._seq

    # --- geography -------------------------------------------------------------------------

    @property
    def gazetteer(self) -> Gazetteer | None:
        """The communes table, or None when ``matcher geo load`` was never run.

        Reloaded when the table's size changes, so that a ``geo load`` run by another process
        (the CLI beside the service) is seen without a restart.
        """
        count = self.store.count(CommuneRow)
        if count != self._gazetteer_size:
            rows = self.store.communes()
            self._gazetteer = Gazetteer(pd.DataFrame(rows)) if rows else None
            self._gazetteer_size = count
        return self._gazetteer

    def load_gazetteer(self, path: Path) -> int:
        frame = read_communes_csv(path)
        return self.store.replace_communes(frame.to_dict("records"))

    # --- index upkeep ----------------------------------------------------------------------

    def refresh(self, progress: Progress | None = None, full: bool = False) -> SyncReport:
        """Bring the filter arrays and the index up to date with the database."""
        with self._lock:
            seq = self.store.catalogue_seq()
            if self.index is not None and seq == self._seq and not full:
                return SyncReport(indexed=len(self.index))
            rows = self.store.catalogue_rows(0 if self.index is None or full else self._seq)
            report = SyncReport()
            everything = self.index is None or full
            if everything:
                self.view = CatalogueView()
                self.index, report.reason = self._load_index(full)
                report.rebuilt = bool(report.reason)
            self.view.upsert(rows)
            if everything:
                self._cache.clear()
            for row in rows:
                self._cache.pop(row.row_id, None)
            self._sync_vectors(rows, everything, report, progress)
            self._seq = seq
            report.indexed = len(self.index)
            self._dirty |= report.changed
            return report

    def _load_index(self, full: bool) -> tuple[VectorIndex, str]:
        path = self.settings.index_path
        fresh = VectorIndex(self.encoder.dim, self.encoder.identity)
        if full:
            return fresh, "reconstruction demandée"
        if not path.exists():
            return fresh, "index absent"
        try:
            with self._file_lock:
                index = VectorIndex.load(path)
        except ValueError as error:
            return fresh, str(error)
        if index.encoder_identity != self.encoder.identity:
            return fresh, f"encodeur changé ({index.encoder_identity} → {self.encoder.identity})"
        return index, ""

    def _sync_vectors(
        self,
        rows: list[OpportunityRow],
        everything: bool,
        report: SyncReport,
        progress: Progress | None,
    ) -> None:
        index = self.index
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
        for start in range(0, len(stale), EMBED_BATCH):
            batch = stale[start : start + EMBED_BATCH]
            documents = self.store.opportunities_by_row_id(batch)
            texts.update((r, opportunity_text(documents[r])) for r in batch)
            vectors, pieces = embed_passages(self.encoder, [documents[r].document() for r in batch])
            index.upsert(np.asarray(batch, dtype=np.int64), vectors, [wanted[r] for r in batch], pieces)
            report.embedded += len(batch)
            if progress:
                progress(report.embedded, len(stale))
        if progress and not stale:
            progress(0, 0)
        self._refit_lexical_if_needed(report, texts)

    def _refit_lexical_if_needed(self, report: SyncReport, texts: dict[int, str]) -> None:
        """Refit TF-IDF on the indexed offers when the catalogue's size moved; ``texts`` are
        those already read."""
        index = self.index
        n = len(index)
        fitted = getattr(index.lexical, "n_documents_", -1)
        if index.lexical is not None and abs(n - fitted) <= LEXICAL_REFIT_SHARE * max(fitted, 1):
            return
        missing = [row_id for row_id in index.hashes if row_id not in texts]
        texts.update((r, opportunity_text(o)) for r, o in self.store.opportunities_by_row_id(missing).items())
        index.lexical = LexicalModel().fit([texts[row_id] for row_id in index.hashes])
        index.lexical.n_documents_ = n
        self._cache.clear()  # TF-IDF rows of the old vocabulary
        report.notes.append(f"modèle lexical réajusté sur {n} offres")
        self._dirty = True

    def _documents(self, row_ids: list[int]) -> list[Document]:
        """The scoring view of these opportunities, from the cache or read once from the store."""
        missing = [r for r in row_ids if r not in self._cache]
        if missing:
            records = self.store.opportunities_by_row_id(missing)
            lexical = self.index.lexical
            texts = [opportunity_text(records[r]) for r in missing]
            vectors = lexical.transform(texts)
            for i, (row_id, text) in enumerate(zip(missing, texts, strict=True)):
                self._cache[row_id] = Document(records[row_id], vectors[i], lexical.stems(text))
        for row_id in row_ids:
            self._cache.move_to_end(row_id)
        found = [self._cache[r] for r in row_ids]
        while len(self._cache) > DOCUMENT_CACHE_SIZE:
            self._cache.popitem(last=False)
        return found

    def _profile_vectors(self, profiles: list[HolderProfile]) -> np.ndarray:
        """Embed the profiles' texts in one batch, reusing those embedded recently."""
        texts = [profile_text(p) for p in profiles]
        with self._queries_lock:
            known = {t: self._queries[t] for t in texts if t in self._queries}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, embed_documents(self.encoder, [("", t) for t in missing]), strict=True))
        with self._queries_lock:
            for text in texts:
                self._queries[text] = known[text]
                self._queries.move_to_end(text)
            while len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32)

    def save_index(self) -> bool:
        """Write the index if it changed since loaded; returns whether it wrote."""
        with self._lock:
            if self.index is None or not self._dirty:
                return False
            with self._file_lock:
                self.index.save(self.settings.index_path)
            self._dirty = False
            return True

    # --- matching --------------------------------------------------------------------------

    def match(self, profile: HolderProfile, top: int = 10, today: date | None = None) -> MatchResult:
        """The ``top`` best opportunities for one profile, explained."""
        return self.match_many([profile], top=top, today=today)[0]

    def match_many(
        self,
        profiles: list[HolderProfile],
        top: int = 10,
        today: date | None = None,
        among: set[str] | None = None,
    ) -> list[MatchResult]:
        """Match many profiles in one pass: one batched embedding, one filtered search each.

        ``among`` restricts the candidates to those opportunity ids (the digest's new offers).
        """
        today = today or date.today()
        self.refresh()
        # Encoding runs outside the engine lock: one request's projects are encoded while
        # another's are scored.
        queries = self._profile_vectors(profiles)
        rejected = self.store.rejected_by([p.id for p in profiles if p.id])
        with self._lock:
            # Restricted to a few offers (the digest's new ones), filters run on those alone.
            positions = None
            if among is not None:
                positions = np.flatnonzero(np.isin(self.view.arrays["id"], list(among)))
            return [
                self._match_one(
                    profile,
                    queries[i : i + 1],
                    top,
                    today,
                    rejected.get(profile.id, set()),
                    positions,
                )
                for i, profile in enumerate(profiles)
            ]

    def _match_one(
        self,
        profile: HolderProfile,
        query: np.ndarray,
        top: int,
        today: date,
        rejected: set[str],
        positions: np.ndarray | None,
    ) -> MatchResult:
        outcome = hard_filters(profile, self.view, today, rejected, positions)
        allowed = outcome.allowed_row_ids
        pool = max(top * POOL_PER_RESULT, MIN_POOL)
        similarities, row_ids = self.index.search(query, pool, allowed=allowed)
        found = row_ids[0] >= 0
        row_ids, similarities = row_ids[0][found], similarities[0][found]
        matches = self._rank(profile, query, row_ids, similarities, outcome, top, today)
        relaxations = []
        if len(allowed) < top and positions is None:
            wanted = top - len(allowed)
            relaxations = [
                describe_relaxation(o) for o in relaxation_options(profile, self.view, outcome, wanted)
            ]
        return MatchResult(
            holder_id=profile.id,
            matches=matches,
            excluded=outcome.excluded,
            relaxations=relaxations,
        )

    def _rank(
        self,
        profile: HolderProfile,
        query_vector: np.ndarray,
        row_ids: np.ndarray,
        similarities: np.ndarray,
        outcome: FilterOutcome,
        top: int,
        today: date,
    ) -> list[Match]:
        if len(row_ids) == 0:
            return []
        positions = self.view.positions(row_ids)
        distances_km = outcome.distances_at(positions)
        # The semantic component is the closer of the whole offer and its best passage.
        similarities = np.maximum(similarities, self.index.best_piece(query_vector, row_ids))
        documents = self._documents(row_ids.tolist())
        query = profile_text(profile)
        lexical = self.index.lexical.similarity(query, sparse.vstack([d.vector for d in documents]))
        partner_counts = partner_offers(self.view, positions, profile.partner_sector, today)
        parts = components(
            profile,
            self.view,
            positions,
            similarities,
            lexical,
            distances_km,
            partner_counts,
            today,
        )
        scores = final_scores(parts, self.weights)
        order = np.argsort(-scores, kind="stable")[:top]
        matches = []
        for rank, i in enumerate(order.tolist(), start=1):
            opportunity = documents[i].opportunity
            own = {name: round(float(values[i]), 4) for name, values in parts.items()}
            distance = None if distances_km is None else float(distances_km[i])
            reasons, warnings = explain(
                profile, opportunity, own, distance, int(partner_counts[i]),
                self.index.lexical.shared_words(query, documents[i].stems), today, self.weights,
            )  # fmt: skip
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
                )
            )
        return matches

    def candidates(
        self, opportunity_id: str, top: int = 10, today: date | None = None
    ) -> list[tuple[HolderProfile, Match]]:
        """Holders who agreed to be seen by territories, ranked by how well they fit one offer.

        Each holder's own hard constraints apply: someone whose budget or distance the offer
        breaks is not a candidate.
        """
        self.store.opportunity(opportunity_id)  # NotFound for an unknown id
        holders = self.store.holders(share_with_territories=True)
        results = self.match_many(holders, top=1, today=today, among={opportunity_id})
        ranked = [(h, r.matches[0]) for h, r in zip(holders, results, strict=True) if r.matches]
        ranked.sort(key=lambda pair: -pair[1].score)
        return ranked[:top]
