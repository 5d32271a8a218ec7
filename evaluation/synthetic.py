"""Seeded synthetic catalogues and holders, recombined from the sample data, for the benchmarks.

Each synthetic opportunity copies one sample offer's kind, sector, status and department, keeps
its title, moves to a random real commune of the same department and gets a description whose
passages are drawn from offers of the same sector (and kind, where there are enough of them).
The description is built so that ``matcher.encoders.passages`` splits it back into exactly the
passages drawn: the vector ``embed_documents`` gives it is then the normalised mean of vectors
of texts embedded once, on the sample (see ``evaluation.bench.PassageCache``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matcher.domain import HolderProfile, Location, Opportunity
from matcher.encoders import passages
from matcher.intake import read_file, read_records, validate_holder, validate_opportunity

#: Passages drawn from the same (sector, kind) when at least this many offers share both.
MIN_GROUP = 3
#: Attempts at a recombination that splits back into the passages drawn, before copying the base.
ATTEMPTS = 6


def load_opportunities(path: Path) -> list[Opportunity]:
    """The sample offers of a JSON Lines / JSON / CSV file, validated (locations must be resolved)."""
    records = read_records(read_file(path), path.name)
    return [validate_opportunity(r.value, r.label, None) for r in records]


def load_holders(path: Path) -> list[HolderProfile]:
    records = read_records(read_file(path), path.name)
    return [validate_holder(r.value, r.label, None) for r in records]


@dataclass
class Communes:
    """Real communes per department (name, postcode, INSEE code, lat, lon) to place offers in."""

    by_department: dict[str, list[tuple[str, str | None, str, float, float]]]

    @classmethod
    def from_csv(cls, path: Path, departments: Iterable[str]) -> Communes:
        wanted = set(departments)
        table: dict[str, list[tuple[str, str | None, str, float, float]]] = defaultdict(list)
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["insee_dep"] not in wanted or row["commune_type"] != "COM":
                    continue
                try:
                    lat, lon = float(row["lat"]), float(row["lng"])
                except ValueError:
                    continue
                table[row["insee_dep"]].append(
                    (row["commune"], row["code_postal"] or None, row["insee_com"], lat, lon)
                )
        return cls(dict(table))

    @classmethod
    def from_offers(cls, offers: list[Opportunity]) -> Communes:
        """Fallback without the INSEE table: the sample's own locations."""
        table: dict[str, dict[str, tuple[str, str | None, str, float, float]]] = defaultdict(dict)
        for offer in offers:
            loc = offer.location
            key = loc.insee or f"{loc.lat},{loc.lon}"
            table[loc.department][key] = (loc.commune or "?", loc.postcode, loc.insee or "", loc.lat, loc.lon)
        return cls({d: list(places.values()) for d, places in table.items()})

    def pick(self, department: str, rng: np.random.Generator) -> Location | None:
        places = self.by_department.get(department)
        if not places:
            return None
        name, postcode, insee, lat, lon = places[int(rng.integers(len(places)))]
        return Location(
            commune=name,
            postcode=postcode,
            insee=insee or None,
            department=department,
            lat=lat,
            lon=lon,
        )


@dataclass
class SyntheticCatalogue:
    records: list[dict[str, Any]]
    #: Offers whose description is a copy of their base offer's (no valid recombination found).
    copied: int = 0
    departments: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


def _body_passages(offer: Opportunity) -> list[str]:
    return passages(offer.document()[1])


def synthetic_catalogue(
    offers: list[Opportunity], size: int, seed: int = 0, communes: Communes | None = None
) -> SyntheticCatalogue:
    """``size`` raw opportunity records (dicts for ``import_records``), reproducible from ``seed``."""
    catalogue = SyntheticCatalogue([])
    catalogue.records.extend(recombined_records(offers, size, seed, communes, catalogue))
    return catalogue


def recombined_records(
    offers: list[Opportunity],
    size: int,
    seed: int = 0,
    communes: Communes | None = None,
    tally: SyntheticCatalogue | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of ``synthetic_catalogue`` one by one, so that a million need not sit in
    memory at once; ``tally`` (its ``records`` untouched) counts copies, departments and kinds."""
    rng = np.random.default_rng(seed)
    communes = communes or Communes.from_offers(offers)
    tally = tally if tally is not None else SyntheticCatalogue([])
    departments: dict[str, int] = defaultdict(int, tally.departments)
    kinds: dict[str, int] = defaultdict(int, tally.kinds)
    pools: dict[tuple[str, str], list[str]] = defaultdict(list)
    sector_pools: dict[str, list[str]] = defaultdict(list)
    members: dict[tuple[str, str], int] = defaultdict(int)
    split = [_body_passages(o) for o in offers]
    bases = [o.model_dump(mode="json", exclude_none=True) for o in offers]
    for offer, parts in zip(offers, split, strict=True):
        sector = offer.sector or "-"
        pools[(sector, offer.kind)].extend(parts)
        sector_pools[sector].extend(parts)
        members[(sector, offer.kind)] += 1
    for i in range(size):
        b = int(rng.integers(len(offers)))
        base, own = offers[b], split[b]
        sector = base.sector or "-"
        pool = (
            pools[(sector, base.kind)] if members[(sector, base.kind)] >= MIN_GROUP else sector_pools[sector]
        )
        description = None
        for _ in range(ATTEMPTS):
            drawn = [own[0]] + [pool[int(j)] for j in rng.integers(len(pool), size=len(own) - 1)]
            candidate = "\n".join(drawn)
            if passages(candidate) == drawn:
                description = candidate
                break
        if description is None:  # the base offer's own body splits back into its passages
            description = "\n".join(own)
            tally.copied += 1
        record = dict(bases[b])
        record["id"] = f"syn-{i:07d}"
        record["description"] = description
        record.pop("tags", None)  # folded into the passages already
        location = communes.pick(base.location.department, rng) or base.location
        record["location"] = location.model_dump(mode="json", exclude_none=True)
        if base.price_eur:
            record["price_eur"] = float(round(base.price_eur * rng.uniform(0.75, 1.3), -2))
        departments[base.location.department] += 1
        kinds[base.kind] += 1
        if i == size - 1:
            tally.departments, tally.kinds = dict(departments), dict(kinds)
        yield record


def record_number(opportunity_id: str) -> int:
    """The position in its catalogue of a synthetic record, from its id (« syn-0000042 »: 42)."""
    return int(opportunity_id.removeprefix("syn-"))


def synthetic_holders(holders: list[HolderProfile], count: int, seed: int = 0) -> list[HolderProfile]:
    """``count`` holder profiles drawn from the sample ones (new ids), for batch matching."""
    rng = np.random.default_rng(seed)
    chosen = rng.integers(len(holders), size=count)
    return [
        holders[int(j)].model_copy(update={"id": f"bench-h-{i:06d}", "email": None})
        for i, j in enumerate(chosen)
    ]
