"""The FAISS index over opportunity vectors: int64 row ids, incremental upkeep, fingerprint.

The index is derived from the database. It is saved beside it in one file with the encoder's
identity and the text hash of every vector, so that a stale, foreign or missing index is
detected and repaired, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from zipfile import BadZipFile

import faiss
import numpy as np

from matcher.config import PRIVATE_DIRECTORY, PRIVATE_FILE
from matcher.lexical import LexicalModel


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: The file's layout: 2 keeps the lexical model as arrays (1 pickled it).
FILE_FORMAT = 2
LEXICAL_ARRAYS = ("lexical_terms", "lexical_idf", "lexical_settings")


class VectorIndex:
    """Exact inner-product search over normalised vectors, with filters applied inside FAISS."""

    def __init__(self, dim: int, encoder_identity: str):
        self.dim = dim
        self.encoder_identity = encoder_identity
        self.faiss = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.hashes: dict[int, str] = {}
        # Piece vectors (title, passages) per row id, in float16: the query is compared with
        # an offer's best piece when candidates are re-scored.
        self.pieces: dict[int, np.ndarray] = {}
        self.lexical: LexicalModel | None = None

    def __len__(self) -> int:
        return self.faiss.ntotal

    def copy(self) -> VectorIndex:
        """An independent copy to update while this one keeps serving (piece arrays and the
        lexical model are shared: they are replaced, never changed in place)."""
        twin = VectorIndex(self.dim, self.encoder_identity)
        twin.faiss = faiss.clone_index(self.faiss)
        twin.hashes = dict(self.hashes)
        twin.pieces = dict(self.pieces)
        twin.lexical = self.lexical
        return twin

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
            pieces = pieces if pieces is not None else [v[None, :] for v in vectors]
            self.pieces.update((i, p.astype(np.float16)) for i, p in zip(ids.tolist(), pieces, strict=True))

    def remove(self, row_ids: np.ndarray) -> None:
        present = [i for i in np.asarray(row_ids, dtype=np.int64).tolist() if i in self.hashes]
        if present:
            self.faiss.remove_ids(np.asarray(present, dtype=np.int64))
            for i in present:
                del self.hashes[i]
                del self.pieces[i]

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, row ids) per query among ``allowed`` row ids (all when None).

        The filter is a FAISS ID selector, so the search is exact over the allowed ids: when at
        least k of them are indexed, k results come back. Missing slots hold id -1.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if allowed is None:
            return self.faiss.search(queries, k)
        allowed = np.asarray(allowed, dtype=np.int64)
        if len(allowed) == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1)
        mask = np.zeros(int(allowed.max()) + 1, dtype=bool)
        mask[allowed] = True
        bitmap = np.packbits(mask, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # size in bytes
        params = faiss.SearchParameters(sel=selector)
        return self.faiss.search(queries, k, params=params)

    def best_piece(self, query: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
        """For each row id, the cosine similarity of ``query`` with its closest piece."""
        return self.best_pieces(np.asarray(query, dtype=np.float32).reshape(1, -1), row_ids)[0]

    def best_pieces(self, queries: np.ndarray, row_ids: np.ndarray) -> np.ndarray:
        """(queries x row ids): each query's cosine similarity with each document's closest piece,
        in one product over all the documents' pieces."""
        ids = np.asarray(row_ids, dtype=np.int64).tolist()
        queries = np.asarray(queries, dtype=np.float32)
        if not ids:
            return np.zeros((len(queries), 0), dtype=np.float32)
        stacked = [self.pieces[i] for i in ids]
        starts = np.cumsum([0] + [len(p) for p in stacked[:-1]])
        similarities = queries @ np.concatenate(stacked).astype(np.float32).T
        return np.maximum.reduceat(similarities, starts, axis=1)

    def vectors(self, row_ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``row_ids`` (all of which must be indexed)."""
        ids = np.ascontiguousarray(row_ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.faiss.reconstruct_batch(ids)

    def fingerprint(self) -> str:
        """Encoder identity plus every (row id, text hash): equal fingerprints, same content."""
        digest = hashlib.sha256(self.encoder_identity.encode())
        for row_id in sorted(self.hashes):
            digest.update(f"{row_id}:{self.hashes[row_id]};".encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        """Write atomically: readers see the old file or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
        ids = np.fromiter(self.hashes, dtype=np.int64, count=len(self.hashes))
        meta = {
            "format": FILE_FORMAT,
            "encoder": self.encoder_identity,
            "dim": self.dim,
            "fingerprint": self.fingerprint(),
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        lexical = self.lexical.to_arrays() if self.lexical is not None else {}
        # Owner-only, like everything in the home.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb") as out:
            np.savez(
                out,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                faiss=faiss.serialize_index(self.faiss),
                ids=ids,
                hashes=np.array([self.hashes[i] for i in ids.tolist()], dtype="S64"),
                piece_counts=np.array([len(self.pieces[i]) for i in ids.tolist()], dtype=np.int64),
                pieces=np.concatenate([self.pieces[i] for i in ids.tolist()])
                if len(ids)
                else np.zeros((0, self.dim), np.float16),
                **lexical,  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
            )
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
        """Read a saved index; raises ValueError when the file is damaged or inconsistent."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                meta = json.loads(saved["meta"].tobytes())
                index = cls(meta["dim"], meta["encoder"])
                index.faiss = faiss.deserialize_index(saved["faiss"])
                ids, hashes = saved["ids"], saved["hashes"]
                index.hashes = dict(zip(ids.tolist(), (h.decode() for h in hashes), strict=True))
                split = np.split(saved["pieces"], np.cumsum(saved["piece_counts"])[:-1]) if len(ids) else []
                index.pieces = dict(zip(ids.tolist(), split, strict=True))
                # Format 1 pickled the lexical model: never unpickled (whoever can write the file
                # would run code as the service); it is refitted from the database instead.
                if "lexical_terms" in saved.files:
                    index.lexical = LexicalModel.from_arrays({k: saved[k] for k in LEXICAL_ARRAYS})
        except (
            OSError,
            KeyError,
            ValueError,
            BadZipFile,
            EOFError,
            RuntimeError,
        ) as error:
            raise ValueError(f"index illisible ({error})") from error
        if index.faiss.ntotal != len(index.hashes) or index.fingerprint() != meta["fingerprint"]:
            raise ValueError("index incohérent avec sa propre empreinte")
        return index
