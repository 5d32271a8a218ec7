"""Holders for one offer: the sharing holders' vectors in a FAISS index, their hard constraints
as arrays, so that an offer's candidates are found without re-matching every holder.

Only holders who share their profile with territories are in it. It is derived from the
database (profiles and their stored vectors): built once, then kept in step by the holders'
sequence number, re-reading only the holders written since. An erasure through this engine
takes the holder out at once, so that nothing of them stays here.
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
from matcher.store.holders import StoredVector, profile_hash

NAN = float("nan")


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
    """One list-valued constraint of every holder (kinds, departments, regions) as (slot, value)
    pairs: a holder who lists nothing accepts every value, otherwise only those listed."""

    def __init__(self) -> None:
        self.restricted = np.zeros(0, dtype=bool)
        self.owners = np.zeros(0, dtype=np.int64)
        self.values = np.zeros(0, dtype=str)

    def put(self, slots: np.ndarray, lists: list[list[str]], size: int) -> None:
        restricted = np.zeros(size, dtype=bool)
        restricted[: len(self.restricted)] = self.restricted
        restricted[slots] = [bool(values) for values in lists]
        kept = ~np.isin(self.owners, slots)
        owners = np.repeat(slots, [len(values) for values in lists])
        values = np.array([v for values in lists for v in values], dtype=str)
        self.restricted = restricted
        self.owners = np.concatenate([self.owners[kept], owners])
        self.values = np.concatenate([self.values[kept], values])

    def accepting(self, value: str) -> np.ndarray:
        accepted = ~self.restricted
        accepted[self.owners[self.values == value]] = True
        return accepted


class SharingHolders:
    """The sharing holders by slot: profiles, vectors in FAISS (ids are slots), hard constraints
    as arrays. A holder who leaves frees nothing but their slot's content (``alive`` says who
    is in); a full rebuild packs the slots again."""

    def __init__(self, dim: int, identity: str):
        self.dim = dim
        self.identity = identity
        #: The holders' sequence number this reflects (None: not read yet).
        self.seq: int | None = None
        self.faiss = faiss.IndexFlatIP(dim)
        self.holders: list[HolderProfile | None] = []
        self.slots: dict[str, int] = {}
        self.alive = np.zeros(0, dtype=bool)
        self.kinds, self.departments, self.regions = _Listed(), _Listed(), _Listed()
        self.budget = np.zeros(0)
        self.lat = np.zeros(0)
        self.lon = np.zeros(0)
        # NaN where the distance does not constrain: no maximum, or no origin to measure from.
        self.max_distance = np.zeros(0)

    def __len__(self) -> int:
        return len(self.slots)

    def _stored_vectors(self) -> np.ndarray:
        """FAISS's own rows (a view: writing a row changes the index)."""
        return faiss.rev_swig_ptr(self.faiss.get_xb(), self.faiss.ntotal * self.dim).reshape(-1, self.dim)

    def upsert(self, holders: list[HolderProfile], vectors: np.ndarray) -> None:
        """Put these holders in (replacing what their slots held)."""
        if not holders:
            return
        new = [h.key for h in holders if h.key not in self.slots]
        start = len(self.holders)
        self.slots.update((key, start + i) for i, key in enumerate(new))
        self.holders.extend([None] * len(new))
        size = len(self.holders)
        slots = np.array([self.slots[h.key] for h in holders], dtype=np.int64)
        self.faiss.add(np.zeros((len(new), self.dim), dtype=np.float32))
        self._stored_vectors()[slots] = vectors
        for slot, holder in zip(slots.tolist(), holders, strict=True):
            self.holders[slot] = holder
        self.alive = _grown(self.alive, size, False)
        self.alive[slots] = True
        self.kinds.put(slots, [list(h.kinds) for h in holders], size)
        self.departments.put(slots, [list(h.departments) for h in holders], size)
        self.regions.put(slots, [list(h.regions) for h in holders], size)
        origins = [
            (h.origin.lat, h.origin.lon)
            if h.origin is not None and h.origin.lat is not None and h.origin.lon is not None
            else (NAN, NAN)
            for h in holders
        ]
        self.budget = _grown(self.budget, size, NAN)
        self.budget[slots] = [NAN if h.budget_eur is None else h.budget_eur for h in holders]
        self.lat, self.lon = _grown(self.lat, size, NAN), _grown(self.lon, size, NAN)
        self.lat[slots] = [lat for lat, _ in origins]
        self.lon[slots] = [lon for _, lon in origins]
        self.max_distance = _grown(self.max_distance, size, NAN)
        self.max_distance[slots] = [
            NAN if h.max_distance_km is None or np.isnan(lat) else h.max_distance_km
            for h, (lat, _) in zip(holders, origins, strict=True)
        ]

    def remove(self, keys: Collection[str]) -> None:
        """Take these holders out: their profile and vector are dropped, their slot left empty."""
        slots = np.array([self.slots.pop(key) for key in keys if key in self.slots], dtype=np.int64)
        if len(slots) == 0:
            return
        self.alive[slots] = False
        self._stored_vectors()[slots] = 0.0
        for slot in slots.tolist():
            self.holders[slot] = None
        for listed in (self.kinds, self.departments, self.regions):
            listed.put(slots, [[] for _ in slots], len(self.holders))
        for values in (self.budget, self.lat, self.lon, self.max_distance):
            values[slots] = NAN

    def passing(self, offer: OfferPlace, rejecting: Collection[str] = frozenset()) -> np.ndarray:
        """Mask of the slots of the holders whose own hard constraints ``offer`` meets (the
        offer's status and expiry aside), as ``matcher.filters.hard_filters`` decides them."""
        allowed = self.alive.copy()
        allowed &= self.kinds.accepting(offer.kind)
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
        for key in rejecting:
            if key in self.slots:
                allowed[self.slots[key]] = False
        return allowed

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray) -> list[HolderProfile]:
        """The (at most) ``k`` allowed holders closest to ``vector``, closest first."""
        if k <= 0 or not allowed.any():
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        bitmap = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # size in bytes
        _, found = self.faiss.search(query, k, params=faiss.SearchParameters(sel=selector))
        return [holder for slot in found[0].tolist() if slot >= 0 and (holder := self.holders[slot])]


def _grown(values: np.ndarray, size: int, fill: float | bool) -> np.ndarray:
    if len(values) >= size:
        return values.copy()
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])


class HolderIndex:
    """The sharing holders kept ready and in step with the database; holders without a current
    stored vector get one on the way (``vectors`` embeds and stores them)."""

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
        # Held while the holders are brought up to date and while they are searched: both read
        # and change the same arrays.
        self._lock = threading.Lock()

    def closest(
        self, offer: OfferPlace, vector: np.ndarray, k: int, rejecting: Collection[str] = frozenset()
    ) -> list[HolderProfile]:
        """The ``k`` sharing holders closest to ``vector`` among those whose hard constraints
        ``offer`` meets (``rejecting``: those who marked it not relevant), closest first."""
        encoder = self._encoder()
        seq = self.store.holders.seq()
        with self._lock:
            sharing = self._up_to_date(encoder, seq)
            return sharing.nearest(vector, k, sharing.passing(offer, rejecting))

    def _up_to_date(self, encoder: Encoder, seq: int) -> SharingHolders:
        # The number is read before the rows: a write committed meanwhile is read now or, its
        # number being higher, next time (so are the vectors stored on the way).
        current = self._current
        if current is not None and current.identity == encoder.identity and current.seq == seq:
            return current
        holders = self.store.holders
        if current is None or current.identity != encoder.identity or current.seq is None:
            current = SharingHolders(encoder.dim, encoder.identity)
            self._put(current, holders.with_vectors(encoder.identity, encoder.dim))
        else:
            changed = holders.changed_since(current.seq)
            self._put(current, holders.with_vectors(encoder.identity, encoder.dim, changed), changed)
            if len(current) != holders.sharing_count():  # an erasure elsewhere: find who by ids
                present = holders.sharing_ids()
                current.remove([key for key in current.slots if key not in present])
        current.seq = seq
        self._current = current
        return current

    def _put(
        self,
        sharing: SharingHolders,
        entries: list[tuple[HolderProfile, StoredVector | None]],
        read: Collection[str] = (),
    ) -> None:
        """Apply what was read of some holders: those who share in, the others (and the ids of
        ``read`` no longer stored) out."""
        kept = [(h, stored) for h, stored in entries if h.share_with_territories]
        found = {h.key for h, _ in kept}
        sharing.remove([key for key in read if key not in found])
        vectors = np.zeros((len(kept), sharing.dim), dtype=np.float32)
        stale = []
        for i, (holder, stored) in enumerate(kept):
            if stored is not None and stored.text_hash == profile_hash(holder):
                vectors[i] = stored.vector
            else:
                stale.append(i)
        if stale:
            vectors[stale] = self._vectors([kept[i][0] for i in stale])
        sharing.upsert([h for h, _ in kept], vectors)

    def forget(self, holder_id: str) -> None:
        """Take an erased holder out now (their profile and vector)."""
        with self._lock:
            if self._current is not None:
                self._current.remove([holder_id])
