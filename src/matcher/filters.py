"""Hard constraints, turned into the set of opportunities a search may return.

Filters run in a fixed order; each reports how many opportunities it excluded among those
the previous ones let through, so the counts add up to everything excluded.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

import numpy as np

from matcher.catalogue import CatalogueView, among, day_number
from matcher.domain import HolderProfile
from matcher.geo import haversine_km

FILTER_ORDER = ("status", "expired", "kind", "department", "region", "distance", "budget", "not_relevant")
#: Kinds whose price is a sum to find (a coworking price is a monthly rent, not budget).
PRICED_KINDS = ("takeover", "activity")


@dataclass
class FilterOutcome:
    """Which catalogue positions pass, per filter and overall, and the counts excluded."""

    passing: np.ndarray
    masks: dict[str, np.ndarray]
    excluded: dict[str, int]
    distances_km: np.ndarray | None
    row_ids: np.ndarray
    #: The catalogue positions evaluated, in order; None for the whole catalogue.
    positions: np.ndarray | None = None

    @property
    def allowed_row_ids(self) -> np.ndarray:
        return self.row_ids[self.passing]

    def distances_at(self, catalogue_positions: np.ndarray) -> np.ndarray | None:
        """Distances from the origin of the opportunities at these catalogue positions."""
        if self.distances_km is None:
            return None
        if self.positions is None:
            return self.distances_km[catalogue_positions]
        return self.distances_km[np.searchsorted(self.positions, catalogue_positions)]


@dataclass(frozen=True)
class RelaxationOption:
    """Widening ``constraint`` to ``value`` would add ``additional`` opportunities."""

    constraint: str
    value: float | list[str]
    additional: int


def hard_filters(
    profile: HolderProfile,
    view: CatalogueView,
    today: date,
    rejected_ids: Collection[str] = frozenset(),
    positions: np.ndarray | None = None,
) -> FilterOutcome:
    """Evaluate every hard constraint of ``profile``, vectorised, over the whole catalogue or
    only at the sorted catalogue ``positions`` given (the digest's new offers)."""
    a = view.arrays
    if positions is not None:
        a = {name: column[positions] for name, column in a.items()}
    n = len(a["row_id"])
    everything = np.ones(n, dtype=bool)
    origin = profile.origin
    distances = (
        haversine_km(origin.lat, origin.lon, a["lat"], a["lon"])
        if origin is not None and origin.lat is not None and origin.lon is not None
        else None
    )
    masks = {
        "status": a["status"] == "published",
        "expired": ~(a["expires_on"] < day_number(today)),  # NaN (no end date) passes
        "kind": among(a["kind"], profile.kinds) if profile.kinds else everything,
        "department": among(a["department"], profile.departments) if profile.departments else everything,
        "region": among(a["region"], profile.regions) if profile.regions else everything,
        "distance": distances <= profile.max_distance_km
        if distances is not None and profile.max_distance_km is not None
        else everything,
        "budget": ~(among(a["kind"], PRICED_KINDS) & (a["price_eur"] > profile.budget_eur))
        if profile.budget_eur is not None
        else everything,
        "not_relevant": ~among(a["id"], rejected_ids) if rejected_ids else everything,
    }
    alive = everything.copy()
    excluded = {}
    for name in FILTER_ORDER:
        excluded[name] = int(np.count_nonzero(alive & ~masks[name]))
        alive &= masks[name]
    return FilterOutcome(alive, masks, excluded, distances, a["row_id"], positions)


def _all_but(outcome: FilterOutcome, name: str) -> np.ndarray:
    others = np.ones_like(outcome.passing)
    for other, mask in outcome.masks.items():
        if other != name:
            others &= mask
    return others & ~outcome.masks[name]


def _round_up(value: float, step: float) -> float:
    return math.ceil(value / step) * step


#: How far a widening may go and still be about the same project: a budget at most half as
#: much again as the holder's, a distance at most twice theirs and never beyond the ceiling.
BUDGET_REACH = 1.5
DISTANCE_REACH = 2.0
DISTANCE_CEILING_KM = 300.0
#: Words of a project that could use a shared workspace (someone working remotely or freelance).
REMOTE_WORDS = (
    "télétravail",
    "teletravail",
    "à distance",
    "freelance",
    "indépendant",
    "coworking",
    "tiers-lieu",
)


def could_use(profile: HolderProfile, kind: str) -> bool:
    """Whether the project could use an offer of ``kind``: a coworking space only for someone
    who works remotely or freelance; a takeover or an activity for anyone."""
    if kind != "coworking":
        return True
    text = f"{profile.project} {profile.experience or ''}".lower()
    return profile.remote_worker or any(word in text for word in REMOTE_WORDS)


def relaxation_options(
    profile: HolderProfile, view: CatalogueView, outcome: FilterOutcome, wanted: int
) -> list[RelaxationOption]:
    """For each relaxable constraint, the smallest widening that adds what is missing, within
    the reach that keeps it the same project (``BUDGET_REACH``, ``DISTANCE_REACH``, ``could_use``).

    ``wanted`` is how many more opportunities would fill the result; when the constraint
    cannot add that many, the widening that adds all it can within reach is proposed; nothing
    when nothing is within reach.
    """
    a = view.arrays
    options: list[RelaxationOption] = []
    if profile.max_distance_km is not None and outcome.distances_km is not None:
        reach = min(profile.max_distance_km * DISTANCE_REACH, DISTANCE_CEILING_KM)
        gained = np.sort(outcome.distances_km[_all_but(outcome, "distance")])
        gained = gained[gained <= reach]
        if len(gained):
            limit = min(_round_up(gained[min(wanted, len(gained)) - 1], 10), reach)
            options.append(RelaxationOption("max_distance_km", limit, int((gained <= limit).sum())))
    if profile.budget_eur is not None:
        reach = profile.budget_eur * BUDGET_REACH
        gained = np.sort(a["price_eur"][_all_but(outcome, "budget")])
        gained = gained[gained <= reach]
        if len(gained):
            budget = min(_round_up(gained[min(wanted, len(gained)) - 1], 5000), reach)
            options.append(RelaxationOption("budget_eur", budget, int((gained <= budget).sum())))
    for constraint, column in (("departments", "department"), ("regions", "region"), ("kinds", "kind")):
        if getattr(profile, constraint):
            values, counts = np.unique(a[column][_all_but(outcome, column)], return_counts=True)
            ranked = sorted(zip(counts.tolist(), values.tolist(), strict=True), reverse=True)
            if constraint == "kinds":
                ranked = [(count, kind) for count, kind in ranked if could_use(profile, kind)]
            chosen, total = [], 0
            for count, value in ranked:
                if total >= wanted:
                    break
                chosen.append(value)
                total += count
            if chosen:
                options.append(RelaxationOption(constraint, chosen, total))
    return options
