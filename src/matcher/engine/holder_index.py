"""Holders for one offer: the sharing holders' vectors in a FAISS index, their hard constraints
as arrays, so that an offer's candidates are found without re-matching every holder.

Only holders who share their profile with territories are in it. It is derived from the
database (profiles and their stored vectors) and rebuilt when the holders' change mark moves;
an erasure drops it at once, so that nothing of the erased holder stays in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

import faiss
import numpy as np

from matcher.domain import HolderProfile
from matcher.encoders import Encoder
from matcher.filters import PRICED_KINDS
from matcher.geo import haversine_km
from matcher.store import Store
from matcher.store.holders import HoldersMark, profile_hash


@dataclass(frozen=True)
class OfferPlace:
    """What the holders' hard constraints read of one offer (``price_eur`` NaN when none)."""

    kind: str
    department: str
    region: str
    lat: float
    lon: float
    price_eur: float


class _Listed:
    """One list-valued constraint of every holder (kinds, departments, regions): a holder with
    an empty list accepts every value, otherwise only those listed."""

    def __init__(self, lists: list[list[str]]):
        self.restricted = np.array([bool(values) for values in lists], dtype=bool)
        self.owners = np.repeat(np.arange(len(lists)), [len(values) for values in lists])
        self.values = np.array([v for values in lists for v in values], dtype=str)

    def accepting(self, value: str) -> np.ndarray:
        accepted = ~self.restricted
        accepted[self.owners[self.values == value]] = True
        return accepted


class SharingHolders:
    """The sharing holders as one snapshot: profiles by slot, vectors in FAISS (ids are slots),
    hard constraints as arrays."""

    def __init__(self, holders: list[HolderProfile], vectors: np.ndarray, dim: int, mark: HoldersMark):
        self.holders = holders
        self.mark = mark
        self.keys = np.array([h.key for h in holders], dtype=str)
        self.faiss = faiss.IndexFlatIP(dim)
        if holders:
            self.faiss.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.kinds = _Listed([list(h.kinds) for h in holders])
        self.departments = _Listed([list(h.departments) for h in holders])
        self.regions = _Listed([list(h.regions) for h in holders])
        nan = float("nan")
        self.budget = np.array(
            [nan if h.budget_eur is None else h.budget_eur for h in holders], dtype=np.float64
        )
        origins = [
            (h.origin.lat, h.origin.lon)
            if h.origin is not None and h.origin.lat is not None and h.origin.lon is not None
            else (nan, nan)
            for h in holders
        ]
        self.lat = np.array([lat for lat, _ in origins], dtype=np.float64)
        self.lon = np.array([lon for _, lon in origins], dtype=np.float64)
        # NaN where the distance does not constrain: no maximum, or no origin to measure from.
        self.max_distance = np.array(
            [
                nan if h.max_distance_km is None or np.isnan(lat) else h.max_distance_km
                for h, (lat, _) in zip(holders, origins, strict=True)
            ],
            dtype=np.float64,
        )

    def __len__(self) -> int:
        return len(self.holders)

    def passing(self, offer: OfferPlace, rejecting: Collection[str] = frozenset()) -> np.ndarray:
        """Mask of the holders whose own hard constraints ``offer`` meets (the offer's status and
        expiry aside), as ``matcher.filters.hard_filters`` decides them one holder at a time."""
        allowed = self.kinds.accepting(offer.kind)
        allowed &= self.departments.accepting(offer.department)
        allowed &= self.regions.accepting(offer.region)
        measured = ~np.isnan(self.max_distance)
        if measured.any():
            distances = haversine_km(
                self.lat[measured], self.lon[measured], np.asarray(offer.lat), np.asarray(offer.lon)
            )
            allowed[np.flatnonzero(measured)[~(distances <= self.max_distance[measured])]] = False
        if offer.kind in PRICED_KINDS:
            allowed &= ~(offer.price_eur > self.budget)  # NaN on either side passes
        if rejecting:
            allowed &= ~np.isin(self.keys, list(rejecting))
        return allowed

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
        """The slots of the (at most) ``k`` allowed holders closest to ``vector``, closest first."""
        slots = np.flatnonzero(allowed)
        if len(slots) == 0 or k <= 0:
            return slots[:0]
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if len(slots) == len(self):
            _, found = self.faiss.search(query, k)
        else:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # size in bytes
            _, found = self.faiss.search(query, k, params=faiss.SearchParameters(sel=selector))
        return found[0][found[0] >= 0]


class HolderIndex:
    """The sharing holders kept ready (``SharingHolders``), rebuilt from the database when the
    holders' change mark moved; holders without a current stored vector get one on the way."""

    def __init__(
        self,
        store: Store,
        encoder: Callable[[], Encoder],
        vectors: Callable[[list[HolderProfile]], np.ndarray],
    ):
        self.store = store
        self._encoder = encoder
        self._vectors = vectors
        self._current: SharingHolders | None = None
        self._identity = ""
        self._lock = threading.Lock()

    def current(self) -> SharingHolders:
        """The sharing holders as the database has them now."""
        encoder = self._encoder()
        mark = self.store.holders.mark()
        with self._lock:  # one rebuild when two requests find it stale together
            current = self._current
            if current is None or current.mark != mark or self._identity != encoder.identity:
                current = self._build(encoder, mark)
                self._current, self._identity = current, encoder.identity
            return current

    def _build(self, encoder: Encoder, mark: HoldersMark) -> SharingHolders:
        # The mark is read before the rows: a change written meanwhile moves it again, and the
        # next look rebuilds (so does the storing of the vectors made here).
        entries = self.store.holders.sharing_with_vectors(encoder.identity, encoder.dim)
        holders = [holder for holder, _ in entries]
        vectors = np.zeros((len(entries), encoder.dim), dtype=np.float32)
        stale = []
        for slot, (holder, stored) in enumerate(entries):
            if stored is not None and stored.text_hash == profile_hash(holder):
                vectors[slot] = stored.vector
            else:
                stale.append(slot)
        if stale:
            vectors[stale] = self._vectors([holders[slot] for slot in stale])
        return SharingHolders(holders, vectors, encoder.dim, mark)

    def forget(self) -> None:
        """Drop the snapshot (a holder was erased): the next look rebuilds it without them."""
        with self._lock:
            self._current = None
