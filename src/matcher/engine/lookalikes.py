"""Look-alikes of an offer among the live catalogue: the reads and vectors ``matcher.duplicates``
compares. Stored offers' vectors come from the index; an incoming record is encoded, and only
when some candidate's words are close enough for the pair to reach the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from matcher.domain import Opportunity, territory_key
from matcher.duplicates import (
    THRESHOLD,
    Candidate,
    fuzzy_similarity,
    is_live,
    look_alikes,
    may_reach,
    may_resemble,
    similarity,
)
from matcher.encoders import Encoder, embed_documents
from matcher.engine.upkeep import IndexKeeper
from matcher.errors import LookAlike
from matcher.explain import long_date
from matcher.store import Store, StoredOffer, text_hash


def _local_day(moment: datetime) -> date:
    return moment.astimezone().date()


@dataclass(frozen=True)
class LikelyDuplicate:
    """Two live offers of one place that resemble each other (``first`` published first)."""

    first: LookAlike
    second: LookAlike
    similarity: float


@dataclass
class IncomingFile:
    """The records of one import already admitted, which the next ones are compared with too.

    Their vectors are encoded only when a pair's words come close enough to need them."""

    today: date
    records: dict[str, Opportunity] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)


class LookAlikeFinder:
    """Reads the candidates of a record, gets their vectors, asks ``matcher.duplicates``."""

    def __init__(self, store: Store, keeper: IndexKeeper, encoder: Callable[[], Encoder]):
        self.store = store
        self.keeper = keeper
        self._encoder = encoder

    def _encode(self, records: Sequence[Opportunity]) -> np.ndarray:
        return embed_documents(self._encoder(), [record.document() for record in records])

    def _stored_vectors(self, offers: Sequence[StoredOffer]) -> np.ndarray:
        """The index's vectors of stored offers; one it does not hold (yet) is encoded."""
        self.keeper.refresh()
        with self.keeper.lock.reading():
            index = self.keeper.index
            held = index.hashes if index is not None else {}
            known = [o.row_id for o in offers if o.row_id in held]
            vectors = dict(
                zip(known, index.vectors(np.asarray(known)) if index and known else [], strict=True)
            )
        missing = [o for o in offers if o.row_id not in vectors]
        vectors.update(
            zip((o.row_id for o in missing), self._encode([o.opportunity for o in missing]), strict=True)
        )
        return np.stack([vectors[o.row_id] for o in offers]) if offers else np.zeros((0, 1), np.float32)

    def look_alikes(
        self,
        record: Opportunity,
        today: date,
        threshold: float = THRESHOLD,
        incoming: IncomingFile | None = None,
    ) -> list[LookAlike]:
        """The live offers of ``record``'s place (and earlier records of ``incoming``) it
        resembles, most similar first; never itself."""
        live = self.store.catalogue.live(today, record.territory, record.location.department)
        own = next((o for o in live if o.opportunity.id == record.id), None)
        earlier = [
            o for o in (incoming.records.values() if incoming else ()) if may_resemble(record, o, today)
        ]
        shadowed = {o.id for o in earlier}  # the file's version replaces the stored one
        near_stored = [
            o
            for o in live
            if o.opportunity.id not in shadowed
            and may_resemble(record, o.opportunity, today)
            and may_reach(fuzzy_similarity(record, o.opportunity), threshold)
        ]
        near_earlier = [o for o in earlier if may_reach(fuzzy_similarity(record, o), threshold)]
        if not near_stored and not near_earlier:
            return []
        # A record stored with the same text (an unchanged re-import) has its vector in the index.
        unchanged = own is not None and text_hash(own.opportunity) == text_hash(record)
        stored_vectors = self._stored_vectors(
            [*near_stored, own] if own is not None and unchanged else near_stored
        )
        candidates = [
            Candidate(o.opportunity, vector, _local_day(o.created_at))
            for o, vector in zip(near_stored, stored_vectors, strict=False)
        ]
        if unchanged:
            vector = stored_vectors[-1]
            if incoming is not None:
                incoming.vectors[record.id] = vector
        elif incoming is not None:
            vector = self._incoming_vectors(incoming, [record, *near_earlier])[0]
        else:
            vector = self._encode([record])[0]
        if incoming is not None and near_earlier:
            vectors = self._incoming_vectors(incoming, near_earlier)  # encoded above with the record
            candidates += [Candidate(o, v, today) for o, v in zip(near_earlier, vectors, strict=True)]
        return look_alikes(record, vector, candidates, threshold)

    def _incoming_vectors(self, incoming: IncomingFile, records: Sequence[Opportunity]) -> list[np.ndarray]:
        """The vectors of records of the file being imported, each encoded once."""
        missing = [r for r in records if r.id not in incoming.vectors]
        incoming.vectors.update(zip((r.id for r in missing), self._encode(missing), strict=True))
        return [incoming.vectors[r.id] for r in records]

    def new_look_alikes(
        self, record: Opportunity, today: date, incoming: IncomingFile | None = None
    ) -> list[LookAlike]:
        """What publishing ``record`` would newly duplicate: none when it is not live; for an
        update, none that its stored version already resembled (an edit is not warned twice,
        and re-importing a file stays idempotent)."""
        if not is_live(record, today):
            return []
        found = self.look_alikes(record, today, incoming=incoming)
        stored = self.store.catalogue.find(record.id) if found else None
        if stored is not None and is_live(stored, today):
            before = {alike.id for alike in self.look_alikes(stored, today)}
            found = [alike for alike in found if alike.id not in before]
        return found

    def admit(self, record: Opportunity, incoming: IncomingFile) -> str | None:
        """An import's check: why ``record`` is refused as a likely duplicate, or None (then it is
        one the next records of the file are compared with)."""
        found = self.new_look_alikes(record, incoming.today, incoming)
        if not found:
            if is_live(record, incoming.today):
                incoming.records[record.id] = record
            return None
        first = found[0]
        where = (
            " du même fichier"
            if first.id in incoming.records
            else f" publiée le {long_date(first.published)}"
        )
        score = f"{first.similarity:.2f}".replace(".", ",")
        return (
            f"ressemble à l'offre {first.id} « {first.title} »{where} (similarité {score}) ; si ce "
            "n'est pas la même offre, importez-la en forçant (matcher import opportunities --force, "
            "ou ?force=true sur l'API)"
        )

    def likely_duplicates(
        self, today: date, territory: str | None = None, threshold: float = THRESHOLD
    ) -> list[LikelyDuplicate]:
        """Pairs of live offers of one place resembling each other, most similar first; with
        ``territory``, the pairs with at least one offer of it."""
        places: dict[tuple[str, str], list[StoredOffer]] = defaultdict(list)
        for offer in self.store.catalogue.live(today):
            places["territory", territory_key(offer.opportunity.territory)].append(offer)
            if offer.opportunity.location.insee:
                places["commune", offer.opportunity.location.insee].append(offer)
        wanted = None if territory is None else territory_key(territory)
        pairs = {
            (a.row_id, b.row_id): (a, b)
            for offers in places.values()
            for i, a in enumerate(offers)
            for b in offers[i + 1 :]
            if (wanted is None or wanted in {territory_key(o.opportunity.territory) for o in (a, b)})
            and may_reach(fuzzy_similarity(a.opportunity, b.opportunity), threshold)
        }
        involved = list({o.row_id: o for pair in pairs.values() for o in pair}.values())
        vectors = dict(zip((o.row_id for o in involved), self._stored_vectors(involved), strict=True))
        found = []
        for a, b in pairs.values():
            score = similarity(a.opportunity, b.opportunity, vectors[a.row_id], vectors[b.row_id])
            if score >= threshold:
                first, second = sorted((a, b), key=lambda o: (o.created_at, o.row_id))
                found.append(LikelyDuplicate(_alike(first, score), _alike(second, score), round(score, 3)))
        return sorted(found, key=lambda pair: (-pair.similarity, pair.first.id, pair.second.id))


def _alike(offer: StoredOffer, score: float) -> LookAlike:
    return LookAlike(
        offer.opportunity.id, offer.opportunity.title, _local_day(offer.created_at), round(score, 3)
    )
