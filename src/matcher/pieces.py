"""The piece vectors of every indexed document (its title and passages), compact and contiguous.

A query is compared with each scored offer's closest piece, so every piece is kept, in half
precision: one contiguous array with each document's first row and row count (read from the
index file, mapped rather than loaded), plus the documents added or changed since, kept apart
until the next save writes everything contiguous again.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from matcher.index_file import ArraySpec, row_blocks

DTYPE = np.float16
#: Documents per block when the pieces are written out.
WRITE_BLOCK = 50_000


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenated integer ranges [start, start + count) of each pair, vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    firsts = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - firsts, counts) + np.arange(total)


class Pieces:
    """Piece vectors by document row id."""

    def __init__(
        self,
        dim: int,
        data: np.ndarray | None = None,
        ids: np.ndarray | None = None,
        counts: np.ndarray | None = None,
    ):
        self.dim = dim
        # The contiguous part, as last saved: ``ids`` sorted, each owning ``counts`` rows of
        # ``data`` in that order. ``alive`` is False for those removed or changed since.
        self.data = data if data is not None else np.zeros((0, dim), dtype=DTYPE)
        self.ids = ids if ids is not None else np.zeros(0, dtype=np.int64)
        self.counts = counts if counts is not None else np.zeros(0, dtype=np.int64)
        self.starts = np.cumsum(self.counts) - self.counts
        self.alive = np.ones(len(self.ids), dtype=bool)
        self.recent: dict[int, np.ndarray] = {}

    def copy(self) -> Pieces:
        """An independent copy: the contiguous arrays are shared (never written in place)."""
        twin = Pieces.__new__(Pieces)
        twin.dim, twin.data, twin.ids, twin.counts, twin.starts = (
            self.dim, self.data, self.ids, self.counts, self.starts,
        )  # fmt: skip
        twin.alive = self.alive.copy()
        twin.recent = dict(self.recent)
        return twin

    def _contiguous_positions(self, row_ids: np.ndarray) -> np.ndarray:
        """Each row id's position in the contiguous part, -1 where it is not (or no longer) there."""
        if len(self.ids) == 0:
            return np.full(len(row_ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, row_ids), len(self.ids) - 1)
        found = (self.ids[at] == row_ids) & self.alive[at]
        return np.where(found, at, -1)

    def put(self, row_ids: np.ndarray, pieces: list[np.ndarray]) -> None:
        self.drop(row_ids)
        self.recent.update(
            (int(r), np.ascontiguousarray(p, dtype=DTYPE))
            for r, p in zip(row_ids.tolist(), pieces, strict=True)
        )

    def drop(self, row_ids: np.ndarray) -> None:
        row_ids = np.asarray(row_ids, dtype=np.int64)
        at = self._contiguous_positions(row_ids)
        self.alive[at[at >= 0]] = False
        for row_id in row_ids.tolist():
            self.recent.pop(row_id, None)

    def _locate(self, row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the contiguous part (-1: among the recent ones) and piece counts.

        KeyError for a row id that has no pieces."""
        at = self._contiguous_positions(row_ids)
        counts = np.zeros(len(row_ids), dtype=np.int64)
        counts[at >= 0] = self.counts[at[at >= 0]]
        for i in np.flatnonzero(at < 0).tolist():
            counts[i] = len(self.recent[int(row_ids[i])])
        return at, counts

    def gather(self, row_ids: np.ndarray, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
        """All pieces of ``row_ids``, document after document, and each document's count."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        at, counts = self._locate(row_ids)
        out: np.ndarray = np.empty((int(counts.sum()), self.dim), dtype=dtype)
        firsts = np.cumsum(counts) - counts
        stored = at >= 0
        if stored.any():
            source = ranges(self.starts[at[stored]], counts[stored])
            out[ranges(firsts[stored], counts[stored])] = self.data[source]
        for i in np.flatnonzero(~stored).tolist():
            out[firsts[i] : firsts[i] + counts[i]] = self.recent[int(row_ids[i])]
        return out, counts

    def spec(self, row_ids: np.ndarray) -> tuple[ArraySpec, np.ndarray]:
        """How to write the pieces of the sorted ``row_ids`` contiguously, block by block (never
        a copy of the whole), and their counts."""
        row_ids = np.asarray(row_ids, dtype=np.int64)
        counts = self._locate(row_ids)[1]

        def blocks() -> Iterator[np.ndarray]:
            for block in row_blocks(len(row_ids), WRITE_BLOCK):
                yield self.gather(row_ids[block], dtype=DTYPE)[0]

        return ArraySpec(np.dtype(DTYPE), (int(counts.sum()), self.dim), blocks()), counts
