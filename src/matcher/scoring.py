"""Soft features, their weights and the final score.

Every component lies in [0, 1] and is 0 when the data to judge it is missing: an
opportunity without a price earns no budget headroom, a profile without sectors no sector
bonus. The final score is the weighted sum of the components.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from matcher.catalogue import CatalogueView, among, day_number
from matcher.domain import HolderProfile
from matcher.filters import PRICED_KINDS, located, named_by
from matcher.geo import Places
from matcher.negation import Negation
from matcher.taxonomy import TRADES, Trade

#: Distance at which the distance component falls to 1/e.
DISTANCE_SCALE_KM = 120.0
#: Age at which the freshness component falls to 1/e.
FRESHNESS_SCALE_DAYS = 60.0
#: How near the partner's sector must be offered to count as work for the partner.
PARTNER_RADIUS_KM = 30.0


@dataclass(frozen=True)
class Weights:
    """The weight of each component in the hand-set score: the learned ranker's fallback and
    baseline (``matcher.ranker``). The rewards sum to 1; penalties are negative.

    semantic   cosine similarity of the project and the offer embeddings (meaning)
    lexical    TF-IDF overlap of their words (French stems, no stop words)
    sector     the offer's sector family is one the holder named
    distance   exp(-km / DISTANCE_SCALE_KM) from where the holder lives
    budget     share of the budget left after the price (takeover, activity)
    housing    the holder needs housing and the offer provides it
    remote     the holder works remotely and the place suits it (coworking, remote-friendly)
    partner    the partner's sector is offered within PARTNER_RADIUS_KM of the offer
    freshness  exp(-days since published or updated / FRESHNESS_SCALE_DAYS)
    trade      the offer's trade is one the holder named or their project describes
    other_trade  the offer's trade is another of the same family (a dentist's practice for a nurse)
    denied_need  the offer says it lacks something the holder needs (« pas de fournil »)

    Budget headroom weighs little on purpose: a cheap offer is not a better fit for that
    (with 0.05 a free medical office outranked a grocery for a would-be grocer); measured with
    ``python -m evaluation.quality``.
    """

    semantic: float = 0.45
    lexical: float = 0.18
    sector: float = 0.06
    trade: float = 0.04
    distance: float = 0.07
    budget: float = 0.02
    housing: float = 0.06
    remote: float = 0.06
    partner: float = 0.03
    freshness: float = 0.03
    other_trade: float = -0.06
    denied_need: float = -0.06

    def as_dict(self) -> dict[str, float]:
        return _weights_dict(self)


@lru_cache(maxsize=64)
def _weights_dict(weights: Weights) -> dict[str, float]:
    # Read for every match: asdict's deep copy is not free. Callers must not mutate it.
    return asdict(weights)


DEFAULT_WEIGHTS = Weights()
COMPONENTS = tuple(DEFAULT_WEIGHTS.as_dict())


def partner_offers(
    view: CatalogueView, positions: np.ndarray, partner_family: str | None, today: date
) -> np.ndarray:
    """How many live activity or takeover offers in ``partner_family`` lie near each position."""
    if partner_family is None or len(positions) == 0:
        return np.zeros(len(positions), dtype=np.int64)
    a = view.arrays

    def jobs() -> Places:
        live = (a["status"] == "published") & ~(a["expires_on"] < day_number(today))
        at = np.flatnonzero(live & (a["sector"] == partner_family) & among(a["kind"], PRICED_KINDS))
        return Places(a["lat"][at], a["lon"][at], keys=at)

    places = view.memo(("partner jobs", partner_family, today), jobs)
    # An offer is no job for the partner of its taker.
    return places.count_near(a["lat"][positions], a["lon"][positions], PARTNER_RADIUS_KM, exclude=positions)


@dataclass(frozen=True)
class Pairs:
    """(holder, opportunity) pairs to score: pair i is ``profiles[holder[i]]`` with the offer at
    catalogue position ``positions[i]``. One holder's search is pairs with one profile."""

    profiles: Sequence[HolderProfile]
    holder: np.ndarray
    positions: np.ndarray

    @classmethod
    def of_one(cls, profile: HolderProfile, positions: np.ndarray) -> Pairs:
        return cls([profile], np.zeros(len(positions), dtype=np.int64), positions)

    def __len__(self) -> int:
        return len(self.positions)

    def per_pair(self, attribute: Callable[[HolderProfile], Any], dtype: Any = None) -> np.ndarray:
        """One attribute of each pair's holder, gathered per pair."""
        return np.array([attribute(p) for p in self.profiles], dtype=dtype)[self.holder]

    def named(self, values: np.ndarray, wanted: Callable[[HolderProfile], Collection[str]]) -> np.ndarray:
        """Whether each pair's value (``values``, aligned) is one its holder named in ``wanted``."""
        distinct, inverse = np.unique(values, return_inverse=True)
        return named_by(distinct, [wanted(p) for p in self.profiles])[self.holder, inverse.ravel()]


def partner_counts(pairs: Pairs, view: CatalogueView, today: date) -> np.ndarray:
    """``partner_offers`` for each pair: counted once per partner family and offer."""
    counts = np.zeros(len(pairs), dtype=np.int64)
    families = pairs.per_pair(lambda p: p.partner_family or "", dtype="U16")
    for family in np.unique(families[families != ""]).tolist():
        chosen = np.flatnonzero(families == family)
        distinct, inverse = np.unique(pairs.positions[chosen], return_inverse=True)
        counts[chosen] = partner_offers(view, distinct, family, today)[inverse.ravel()]
    return counts


def components(
    pairs: Pairs,
    view: CatalogueView,
    semantic: np.ndarray,
    lexical: np.ndarray,
    distances_km: np.ndarray | None,
    partner_counts: np.ndarray,
    today: date,
    trade_codes: np.ndarray | None = None,
    denied: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Each soft component of each pair (``semantic``, ``lexical``, ``distances_km`` from the
    holder's origin, NaN where it has no coordinates, the offers' ``trade_codes`` and
    ``denied``, the count of the holder's needs each offer says it lacks, aligned)."""
    a = view.arrays
    positions = pairs.positions
    kind, price = a["kind"][positions], a["price_eur"][positions]
    zeros = np.zeros(len(positions))
    # A budget of 0 or none earns no headroom.
    budget = pairs.per_pair(lambda p: p.budget_eur or np.nan, dtype=np.float64)
    priced = among(kind, PRICED_KINDS) & ~np.isnan(price) & ~np.isnan(budget)
    with np.errstate(invalid="ignore"):
        headroom = (budget - np.nan_to_num(price)) / budget
    remote_place = (kind == "coworking") | a["remote_friendly"][positions]
    age_days = day_number(today) - a["updated_at"][positions]
    distance = zeros
    if distances_km is not None:
        with np.errstate(invalid="ignore"):
            distance = np.where(pairs.per_pair(located), np.exp(-distances_km / DISTANCE_SCALE_KM), 0.0)
    return {
        "semantic": np.clip(semantic, 0.0, 1.0),
        "lexical": np.clip(lexical, 0.0, 1.0),
        "sector": pairs.named(a["sector"][positions], lambda p: p.families).astype(float),
        "distance": distance,
        "budget": np.where(priced, np.clip(headroom, 0.0, 1.0), 0.0),
        "housing": (a["housing"][positions] & pairs.per_pair(lambda p: p.needs_housing, bool)).astype(float),
        "remote": (remote_place & pairs.per_pair(lambda p: p.remote_worker, bool)).astype(float),
        "partner": (partner_counts > 0).astype(float),
        "freshness": np.exp(-np.clip(np.nan_to_num(age_days, nan=365.0), 0, None) / FRESHNESS_SCALE_DAYS),
        **trade_components(pairs, trade_codes if trade_codes is not None else np.full(len(positions), "")),
        "denied_need": zeros if denied is None else (denied > 0).astype(float),
    }


def _sought(profile: HolderProfile) -> list[Trade]:
    return [TRADES[c] for c in profile.trade_codes if c in TRADES]


def trade_components(pairs: Pairs, trade_codes: np.ndarray) -> dict[str, np.ndarray]:
    """``trade`` (the offer's trade is sought) and ``other_trade`` (another trade of a family
    the holder's trades belong to) for each pair, the offers' ROME codes ``trade_codes`` ("" unknown)."""
    match = pairs.named(trade_codes, lambda p: [t.code for t in _sought(p)])
    known = trade_codes != ""
    family_of = np.array([TRADES[c].family if c in TRADES else "" for c in trade_codes.tolist()], dtype="U16")
    other = known & ~match & pairs.named(family_of, lambda p: {t.family for t in _sought(p)})
    return {"trade": match.astype(float), "other_trade": other.astype(float)}


#: Absences that are no loss: « sans loyer », « hors stock », « sans droit d'entrée ».
FAVOURABLE_ABSENCES = (
    "loyer frais charges droit investissement investir stock taxe apport engagement commission "
    "tarder attendre successeur repreneur"
)


def denied_needs(
    need_stems: frozenset[str], absences: tuple[Negation, ...], stems: Callable[[str], frozenset[str]]
) -> list[Negation]:
    """The absences an offer states (``absences``) that deny one of the holder's needs, read as
    the stems of their project (``need_stems``)."""
    favourable = stems(FAVOURABLE_ABSENCES)
    denied = []
    for absence in absences:
        words = stems(" ".join(absence.words)) - favourable
        if words & need_stems:
            denied.append(absence)
    return denied


#: A match is about the project at all when it is in a sector the holder named, shares
#: words with the project, or is close in meaning.
ON_TOPIC_LEXICAL = 0.05
ON_TOPIC_SEMANTIC = 0.25


def on_topic(parts: dict[str, float]) -> bool:
    """Whether one match's components say it is about the holder's project."""
    return (
        parts["sector"] > 0 or parts["lexical"] >= ON_TOPIC_LEXICAL or parts["semantic"] >= ON_TOPIC_SEMANTIC
    )


def final_scores(parts: dict[str, np.ndarray], weights: Weights = DEFAULT_WEIGHTS) -> np.ndarray:
    """The weighted sum of the components, added in the components' order."""
    (first, weight), *rest = weights.as_dict().items()
    total = weight * parts[first]
    for name, weight in rest:
        total = total + weight * parts[name]
    return total
