"""The FAISS index over opportunity vectors: int64 row ids, a query planner, compact vectors.

The index is derived from the database. It is saved beside it in one file (``matcher.index_file``)
with the encoder's identity and the text hash of every vector, so that a stale, foreign or
missing index is detected and repaired, never silently used.

Vectors are stored compact: half precision in an exact flat index while the catalogue is small;
past ``APPROXIMATE_FROM`` offers, an inverted-file index with 8-bit scalar quantisation. The
planner in ``search`` picks, per query, how to answer what the hard filters let through: when
few offers pass, their vectors are gathered and scored in one product; when under
``EXACT_BELOW_SHARE`` of the catalogue passes, the whole index is scanned with the filter as a
bitmap selector (exact); otherwise a few lists are probed with the selector, and everything
is scanned when that came back short.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import faiss
import numpy as np

from matcher import index_file
from matcher.config import PRIVATE_DIRECTORY, PRIVATE_FILE
from matcher.lexical import LexicalModel
from matcher.pieces import Pieces


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: The file's layout: 3 is ``matcher.index_file`` with compact vectors and mapped pieces (2 was
#: a zip of arrays, 1 pickled the lexical model). An older file is rebuilt, never read.
FILE_FORMAT = 3
LEXICAL_ARRAYS = ("lexical_terms", "lexical_idf", "lexical_settings")
#: From this many vectors the inverted-file index answers (below, a flat scan costs less than
#: probing lists); it is trained again once the catalogue has grown ``RETRAIN_GROWTH`` times.
APPROXIMATE_FROM = 20_000
RETRAIN_GROWTH = 4
#: Training vectors per inverted list.
TRAIN_PER_LIST = 40
#: Inverted lists probed per query: measured with ``python -m evaluation.bench``.
NPROBE = 32
#: When at most this many offers pass the filters, their vectors are gathered and scored exactly.
GATHER_AT_MOST = 4_000
#: Below this share of the catalogue passing, the probed lists would hold too few of those that
#: pass to find their best surely: the whole index is scanned, with the filter as a selector.
EXACT_BELOW_SHARE = 0.05
#: Vectors moved per call when the index is trained again.
MOVE_BLOCK = 65_536


def lists_for(size: int) -> int:
    """Inverted lists for a catalogue of ``size`` offers: about 4 * sqrt(size), in [64, 16384]."""
    return int(min(max(4 * np.sqrt(size), 64), 16_384))


def _flat(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(
        faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    )


def _bitmap_selector(row_ids: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray]:
    """A FAISS selector letting ``row_ids`` through, and the bitmap it reads (keep it alive)."""
    mask = np.zeros(int(row_ids.max()) + 1, dtype=bool)
    mask[row_ids] = True
    bitmap = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap  # size in bytes


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (scores, ids) of each row of ``scores`` (queries x ``ids``), best first,
    padded with (-inf, -1)."""
    n_queries, n = scores.shape
    out_scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
    out_ids = np.full((n_queries, k), -1, dtype=np.int64)
    take = min(k, n)
    if take == 0:
        return out_scores, out_ids
    best = (
        np.argpartition(-scores, take - 1, axis=1)[:, :take]
        if take < n
        else np.tile(np.arange(n), (n_queries, 1))
    )
    chosen = np.take_along_axis(scores, best, axis=1)
    # Ties broken by id: the same order whichever way the vectors were gathered.
    order = np.lexsort((ids[best], -chosen), axis=1)
    best = np.take_along_axis(best, order, axis=1)
    out_scores[:, :take] = np.take_along_axis(scores, best, axis=1)
    out_ids[:, :take] = ids[best]
    return out_scores, out_ids


class VectorIndex:
    """Inner-product search over normalised vectors, exact over what the filters let through."""

    def __init__(self, dim: int, encoder_identity: str):
        self.dim = dim
        self.encoder_identity = encoder_identity
        self.faiss = _flat(dim)
        #: Vectors held when the inverted-file index was trained (0: the flat index serves).
        self.trained_at = 0
        self.hashes: dict[int, str] = {}
        # Piece vectors (title, passages) per row id: the query is compared with an offer's
        # best piece when candidates are re-scored.
        self.pieces = Pieces(dim)
        # Row id -> indexed, for a vectorised check of what the filters let through.
        self._present = np.zeros(0, dtype=bool)
        self.lexical: LexicalModel | None = None

    def __len__(self) -> int:
        return self.faiss.ntotal

    @property
    def approximate(self) -> bool:
        return self.trained_at > 0

    def copy(self) -> VectorIndex:
        """An independent copy to update while this one keeps serving (the saved piece arrays
        and the lexical model are shared: they are replaced, never changed in place)."""
        twin = VectorIndex(self.dim, self.encoder_identity)
        twin.faiss = faiss.clone_index(self.faiss)
        twin.trained_at = self.trained_at
        twin.hashes = dict(self.hashes)
        twin.pieces = self.pieces.copy()
        twin._present = self._present.copy()
        twin.lexical = self.lexical
        return twin

    def _mark(self, row_ids: np.ndarray, present: bool) -> None:
        if len(row_ids) and row_ids.max() >= len(self._present):
            grown = np.zeros(max(int(row_ids.max()) + 1, 2 * len(self._present)), dtype=bool)
            grown[: len(self._present)] = self._present
            self._present = grown
        self._present[row_ids] = present

    def upsert(
        self,
        row_ids: np.ndarray,
        vectors: np.ndarray,
        hashes: list[str],
        pieces: list[np.ndarray] | None = None,
    ) -> None:
        """Add vectors, replacing those already stored under the same ids.

        ``pieces`` holds each document's piece vectors; without them the document is one piece.
        """
        ids = np.ascontiguousarray(row_ids, dtype=np.int64)
        self.remove(ids)
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            self.faiss.add_with_ids(vectors, ids)
            self.hashes.update(zip(ids.tolist(), hashes, strict=True))
            self.pieces.put(ids, pieces if pieces is not None else [v[None, :] for v in vectors])
            self._mark(ids, True)
            self._train_if_grown()

    def remove(self, row_ids: np.ndarray) -> None:
        present = [i for i in np.asarray(row_ids, dtype=np.int64).tolist() if i in self.hashes]
        if present:
            gone = np.asarray(present, dtype=np.int64)
            self.faiss.remove_ids(gone)
            for i in present:
                del self.hashes[i]
            self.pieces.drop(gone)
            self._mark(gone, False)

    def _train_if_grown(self) -> None:
        n = len(self)
        if n >= APPROXIMATE_FROM and n >= RETRAIN_GROWTH * self.trained_at:
            self._train()

    def _train(self) -> None:
        """Move every vector into an inverted-file index trained on a sample of them."""
        ids = np.fromiter(self.hashes, dtype=np.int64, count=len(self.hashes))
        n, lists = len(ids), lists_for(len(ids))
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(ids, size=min(n, TRAIN_PER_LIST * lists), replace=False))
        approximate = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self.dim),
            self.dim,
            lists,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        approximate.train(self.faiss.reconstruct_batch(sample))
        approximate.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
        for block in index_file.row_blocks(n, MOVE_BLOCK):
            approximate.add_with_ids(self.faiss.reconstruct_batch(ids[block]), ids[block])
        self.faiss, self.trained_at = approximate, n

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, row ids) per query among ``allowed`` row ids (all when None).

        Exact over the allowed ids that are indexed: when at least k of them are, k results come
        back (best first). Missing slots hold id -1.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        # One query runs on one thread: OpenMP's fork and join costs more than it saves
        # there, and concurrent requests already keep the cores busy.
        faiss.omp_set_num_threads(1 if len(queries) == 1 else os.cpu_count() or 1)
        if allowed is None:
            if not self.approximate:
                return self.faiss.search(queries, k)
            allowed = np.flatnonzero(self._present)
        allowed = np.asarray(allowed, dtype=np.int64)
        allowed = allowed[allowed < len(self._present)]
        allowed = allowed[self._present[allowed]]
        if len(allowed) <= GATHER_AT_MOST:
            return _top(queries @ self.faiss.reconstruct_batch(allowed).T, allowed, k)
        selector, _bitmap = _bitmap_selector(allowed)
        if not self.approximate:
            return self.faiss.search(queries, k, params=faiss.SearchParameters(sel=selector))
        everything = faiss.SearchParametersIVF(sel=selector, nprobe=self.faiss.nlist)
        if len(allowed) < EXACT_BELOW_SHARE * len(self):
            return self.faiss.search(queries, k, params=everything)
        probed = faiss.SearchParametersIVF(sel=selector, nprobe=NPROBE)
        scores, ids = self.faiss.search(queries, k, params=probed)
        short = np.flatnonzero((ids >= 0).sum(axis=1) < min(k, len(allowed)))
        if len(short):
            scores[short], ids[short] = self.faiss.search(queries[short], k, params=everything)
        return scores, ids

    def best_piece(self, query: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
        """For each row id, the cosine similarity of ``query`` with its closest piece."""
        return self.best_pieces(np.asarray(query, dtype=np.float32).reshape(1, -1), row_ids)[0]

    def best_pieces(self, queries: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
        """(queries x row ids): each query's cosine similarity with each document's closest piece,
        in one product over all the documents' pieces."""
        queries = np.asarray(queries, dtype=np.float32)
        if len(row_ids) == 0:
            return np.zeros((len(queries), 0), dtype=np.float32)
        stacked, counts = self.pieces.gather(np.asarray(row_ids, dtype=np.int64))
        similarities = queries @ stacked.T
        return np.maximum.reduceat(similarities, np.cumsum(counts) - counts, axis=1)

    def vectors(self, row_ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``row_ids`` (all of which must be indexed)."""
        ids = np.ascontiguousarray(row_ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.faiss.reconstruct_batch(ids)

    def _sorted_ids(self) -> np.ndarray:
        return np.sort(np.fromiter(self.hashes, dtype=np.int64, count=len(self.hashes)))

    def _fingerprint(self, ids: np.ndarray, hashes: np.ndarray) -> str:
        digest = hashlib.sha256(self.encoder_identity.encode())
        digest.update(ids.astype("<i8").tobytes())
        digest.update(hashes.tobytes())
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """Encoder identity plus every (row id, text hash): equal fingerprints, same content."""
        ids = self._sorted_ids()
        return self._fingerprint(ids, np.array([self.hashes[i] for i in ids.tolist()], dtype="S64"))

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
        ids = self._sorted_ids()
        hashes = np.array([self.hashes[i] for i in ids.tolist()], dtype="S64")
        pieces, piece_counts = self.pieces.spec(ids)
        meta = {
            "format": FILE_FORMAT,
            "encoder": self.encoder_identity,
            "dim": self.dim,
            "trained_at": self.trained_at,
            "fingerprint": self._fingerprint(ids, hashes),
        }
        lexical = self.lexical.to_arrays() if self.lexical is not None else {}
        arrays = {
            "faiss": index_file.whole(faiss.serialize_index(self.faiss)),
            "ids": index_file.whole(ids),
            "hashes": index_file.whole(hashes),
            "piece_counts": index_file.whole(piece_counts),
            "pieces": pieces,
            **{name: index_file.whole(array) for name, array in lexical.items()},
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        # Owner-only, like everything in the home.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb") as out:
            index_file.write(out, meta, arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    @staticmethod
    def remove_stale_files(path: Path) -> list[Path]:
        """Delete the temporary files a process killed during ``save`` left beside ``path``
        (``opportunities.<pid>.tmp`` of a pid no longer alive); returns them."""
        removed = []
        for tmp in path.parent.glob(f"{path.stem}.*.tmp"):
            pid = tmp.suffixes[-2].lstrip(".") if len(tmp.suffixes) >= 2 else ""
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        """Read a saved index; raises ValueError when the file is damaged, inconsistent or in
        an older format. The piece vectors stay in the file, mapped."""
        try:
            contents = index_file.open_contents(path)
            meta = contents.meta
            if meta.get("format") != FILE_FORMAT:
                raise ValueError(f"format {meta.get('format')} ancien")
            index = cls(meta["dim"], meta["encoder"])
            index.faiss = faiss.deserialize_index(contents.read("faiss"))
            index.trained_at = int(meta["trained_at"])
            ids, hashes = contents.read("ids"), contents.read("hashes")
            index.hashes = dict(zip(ids.tolist(), (h.decode() for h in hashes), strict=True))
            index.pieces = Pieces(meta["dim"], contents.mapped("pieces"), ids, contents.read("piece_counts"))
            index._mark(ids, True)
            if "lexical_terms" in contents.names:
                index.lexical = LexicalModel.from_arrays({k: contents.read(k) for k in LEXICAL_ARRAYS})
            consistent = (
                index.faiss.ntotal == len(ids)
                and len(index.pieces.data) == int(index.pieces.counts.sum())
                and index._fingerprint(ids, hashes) == meta["fingerprint"]
            )
        except (OSError, KeyError, ValueError, EOFError, RuntimeError, TypeError) as error:
            raise ValueError(f"index illisible ({error})") from error
        if not consistent:
            raise ValueError("index incohérent avec sa propre empreinte")
        return index
