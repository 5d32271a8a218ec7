"""Hard constraints, turned into the set of opportunities a search may return.

Filters run in a fixed order; each reports how many opportunities it excluded among those
the previous ones let through, so the counts add up to everything excluded.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
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


def located(profile: HolderProfile) -> bool:
    """Whether distances can be measured from the holder's origin (it has coordinates)."""
    origin = profile.origin
    return origin is not None and origin.lat is not None and origin.lon is not None


def named_by(column: np.ndarray, wanted: Sequence[Collection[str]]) -> np.ndarray:
    """(holders x cells): whether each cell of ``column`` is one of the values each holder
    named in ``wanted``; False throughout for a holder who named none."""
    values = sorted(set().union(*wanted))
    if not values:
        return np.zeros((len(wanted), len(column)), dtype=bool)
    # Few distinct values (kinds, departments, families): one comparison per value, then one
    # product of the holders' choices with the cells' values.
    cells = np.stack([column == value for value in values]).astype(np.float32)
    code = {value: i for i, value in enumerate(values)}
    chosen = np.zeros((len(wanted), len(values)), dtype=np.float32)
    for holder, named in enumerate(wanted):
        chosen[holder, [code[value] for value in named]] = 1.0
    return (chosen @ cells) > 0


@dataclass
class FilterGrid:
    """The hard filters of several holders over the same opportunities: (holders x offers)
    masks, each holder's counts excluded, and their distances (NaN rows for holders without
    coordinates; None when no holder has any)."""

    passing: np.ndarray
    masks: dict[str, np.ndarray]
    excluded: dict[str, np.ndarray]
    distances_km: np.ndarray | None
    located: np.ndarray
    row_ids: np.ndarray
    positions: np.ndarray | None = None

    def excluded_for(self, holder: int) -> dict[str, int]:
        return {name: int(counts[holder]) for name, counts in self.excluded.items()}


def filter_grid(
    profiles: Sequence[HolderProfile],
    view: CatalogueView,
    today: date,
    rejected_ids: Sequence[Collection[str]],
    positions: np.ndarray | None = None,
) -> FilterGrid:
    """Every hard constraint of each of ``profiles`` (``rejected_ids`` aligned: what each marked
    not relevant), vectorised over the whole catalogue or only at the sorted catalogue
    ``positions`` given (the digest's new offers)."""
    a = view.arrays
    if positions is not None:
        a = {name: column[positions] for name, column in a.items()}
    shape = (len(profiles), len(a["row_id"]))
    everything = np.ones(shape, dtype=bool)
    is_located = np.array([located(p) for p in profiles], dtype=bool)
    distances = None
    if is_located.any():
        origins = [p.origin if located(p) else None for p in profiles]
        lat = np.array([np.nan if o is None else o.lat for o in origins], dtype=np.float64)
        lon = np.array([np.nan if o is None else o.lon for o in origins], dtype=np.float64)
        distances = haversine_km(lat[:, None], lon[:, None], a["lat"], a["lon"])
    reach = np.array([np.nan if p.max_distance_km is None else p.max_distance_km for p in profiles])
    budget = np.array([np.nan if p.budget_eur is None else p.budget_eur for p in profiles])

    def chosen(column: str, wanted: list[Collection[str]]) -> np.ndarray:
        named = np.array([bool(w) for w in wanted], dtype=bool)
        return named_by(a[column], wanted) | ~named[:, None]

    not_relevant = everything.copy()
    for holder, rejected in enumerate(rejected_ids):
        if rejected:
            not_relevant[holder] = ~among(a["id"], rejected)
    bounded = is_located & ~np.isnan(reach)
    masks = {
        "status": np.broadcast_to(a["status"] == "published", shape),
        "expired": np.broadcast_to(~(a["expires_on"] < day_number(today)), shape),  # NaN (no end) passes
        "kind": chosen("kind", [p.kinds for p in profiles]),
        "department": chosen("department", [p.departments for p in profiles]),
        "region": chosen("region", [p.regions for p in profiles]),
        "distance": everything
        if distances is None
        else ~bounded[:, None] | (distances <= np.where(bounded, reach, 0.0)[:, None]),
        # A NaN budget (none given) or price (none asked) compares False: it passes.
        "budget": ~(among(a["kind"], PRICED_KINDS) & (a["price_eur"] > budget[:, None])),
        "not_relevant": not_relevant,
    }
    alive = everything.copy()
    excluded = {}
    for name in FILTER_ORDER:
        excluded[name] = np.count_nonzero(alive & ~masks[name], axis=1)
        alive &= masks[name]
    return FilterGrid(alive, masks, excluded, distances, is_located, a["row_id"], positions)


def hard_filters(
    profile: HolderProfile,
    view: CatalogueView,
    today: date,
    rejected_ids: Collection[str] = frozenset(),
    positions: np.ndarray | None = None,
) -> FilterOutcome:
    """Evaluate every hard constraint of ``profile``, vectorised, over the whole catalogue or
    only at the sorted catalogue ``positions`` given: ``filter_grid`` for one holder."""
    grid = filter_grid([profile], view, today, [rejected_ids], positions)
    distances = grid.distances_km[0] if grid.distances_km is not None else None
    return FilterOutcome(
        grid.passing[0],
        {name: mask[0] for name, mask in grid.masks.items()},
        grid.excluded_for(0),
        distances,
        grid.row_ids,
        positions,
    )


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
