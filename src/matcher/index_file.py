"""The index file's layout: a JSON header, then raw arrays at aligned offsets.

Not a zip of .npy files: a raw array can be mapped from the file instead of read into memory, so
that a serving process keeps the piece vectors of a million offers on disk, paged in only for the
offers it scores. Nothing in the file is ever unpickled.

    magic (14 bytes) | header length (8 bytes, little-endian) | header (JSON) | arrays, each
    at a multiple of ALIGN bytes

The header holds the format version, free metadata and, per array, its dtype, shape and offset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"matcher-index\n"
ALIGN = 64
_LENGTH_BYTES = 8


@dataclass(frozen=True)
class ArraySpec:
    """One array of the file: its dtype, its shape, and how its rows are produced when written
    (``chunks`` yields consecutive row blocks, so a large array is never copied whole)."""

    dtype: np.dtype
    shape: tuple[int, ...]
    chunks: Iterable[np.ndarray]


def whole(array: np.ndarray) -> ArraySpec:
    array = np.ascontiguousarray(array)
    return ArraySpec(array.dtype, array.shape, (array,))


def _aligned(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


def write(out: BinaryIO, meta: dict[str, Any], arrays: dict[str, ArraySpec]) -> None:
    """Write ``meta`` and ``arrays`` to ``out``, streaming each array's chunks."""
    layout: dict[str, dict[str, Any]] = {}
    offsets, sizes, offset = {}, {}, 0
    for name, spec in arrays.items():
        sizes[name] = int(np.prod(spec.shape, dtype=np.int64)) * spec.dtype.itemsize
        offsets[name] = offset
        layout[name] = {"dtype": spec.dtype.str, "shape": list(spec.shape), "offset": offset}
        offset = _aligned(offset + sizes[name])
    header = json.dumps({**meta, "arrays": layout}).encode()
    start = _aligned(len(MAGIC) + _LENGTH_BYTES + len(header))
    out.write(MAGIC + len(header).to_bytes(_LENGTH_BYTES, "little") + header)
    out.write(b"\0" * (start - out.tell()))
    for name, spec in arrays.items():
        at = start + offsets[name]
        out.write(b"\0" * (at - out.tell()))
        written = 0
        for chunk in spec.chunks:
            data = np.ascontiguousarray(chunk, dtype=spec.dtype)
            out.write(data.data.cast("B"))
            written += data.nbytes
        if written != sizes[name]:
            raise ValueError(f"array {name}: {written} bytes written, {sizes[name]} announced")


@dataclass(frozen=True)
class Contents:
    """A file's header and where its arrays lie."""

    path: Path
    meta: dict[str, Any]
    start: int

    @property
    def names(self) -> list[str]:
        return list(self.meta["arrays"])

    def _spec(self, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
        entry = self.meta["arrays"][name]
        return np.dtype(entry["dtype"]), tuple(entry["shape"]), self.start + entry["offset"]

    def read(self, name: str) -> np.ndarray:
        """The array, read into memory."""
        dtype, shape, offset = self._spec(name)
        with open(self.path, "rb") as source:
            source.seek(offset)
            count = int(np.prod(shape, dtype=np.int64))
            data = np.fromfile(source, dtype=dtype, count=count)
        if data.size != count:
            raise ValueError(f"tableau {name} tronqué")
        return data.reshape(shape)

    def mapped(self, name: str) -> np.ndarray:
        """The array mapped read-only from the file (pages read when touched)."""
        dtype, shape, offset = self._spec(name)
        if 0 in shape:
            return np.zeros(shape, dtype=dtype)
        if offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > os.path.getsize(self.path):
            raise ValueError(f"tableau {name} tronqué")
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)


def open_contents(path: Path) -> Contents:
    """Read the header; ValueError when the file is not in this layout or is torn."""
    with open(path, "rb") as source:
        if source.read(len(MAGIC)) != MAGIC:
            raise ValueError("format de fichier inconnu")
        length = int.from_bytes(source.read(_LENGTH_BYTES), "little")
        raw = source.read(length)
    if len(raw) != length:
        raise ValueError("en-tête tronqué")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError("en-tête illisible") from error
    return Contents(path, meta, _aligned(len(MAGIC) + _LENGTH_BYTES + length))


def row_blocks(count: int, block: int) -> Iterator[slice]:
    """Consecutive slices of ``block`` rows covering ``count``."""
    for first in range(0, count, block):
        yield slice(first, min(first + block, count))
