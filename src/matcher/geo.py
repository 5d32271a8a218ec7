"""Gazetteer, location resolution and great-circle distances.

The gazetteer is the official INSEE communes table, loaded into the database by
``matcher geo load PATH``. Without it, records must carry lat/lon and a department.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from matcher.areas import DEPARTMENT_NAMES, either, loose_key, name_key
from matcher.domain import Location
from matcher.errors import InvalidFile, LocationUnresolved

EARTH_RADIUS_KM = 6371.0088

#: Columns read from the INSEE communes CSV (see ../shared/data/geo/README.md).
GAZETTEER_COLUMNS = {
    "insee_com": "insee",
    "insee_dep": "department",
    "commune": "name",
    "commune_article": "name_article",
    "code_postal": "postcode",
    "commune_type": "type",
    "lat": "lat",
    "lng": "lon",
    "population_2021": "population",
}


def haversine_km(
    lat: float | np.ndarray, lon: float | np.ndarray, lats: np.ndarray, lons: np.ndarray
) -> np.ndarray:
    """Great-circle distances in km from one point to arrays of points (arrays broadcast)."""
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2, lon2 = (
        np.radians(np.asarray(lats, dtype=np.float64)),
        np.radians(np.asarray(lons, dtype=np.float64)),
    )
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


#: Kilometres per degree of latitude (a band of latitudes bounds a radius).
KM_PER_DEGREE = 111.0


class Places:
    """A fixed set of points, sorted by latitude, to count those near other points quickly: only
    the band of latitudes a radius can reach is measured."""

    def __init__(self, lats: np.ndarray, lons: np.ndarray, keys: np.ndarray):
        order = np.argsort(lats, kind="stable")
        self.lats, self.lons, self.keys = lats[order], lons[order], keys[order]

    def count_near(
        self, lats: np.ndarray, lons: np.ndarray, radius_km: float, exclude: np.ndarray
    ) -> np.ndarray:
        """For each (lat, lon), how many points lie within ``radius_km``, the point whose key is
        its ``exclude`` excepted."""
        band = radius_km / KM_PER_DEGREE
        lows = np.searchsorted(self.lats, lats - band, side="left")
        highs = np.searchsorted(self.lats, lats + band, side="right")
        counts = np.zeros(len(lats), dtype=np.int64)
        for i in np.flatnonzero(highs > lows).tolist():
            near = slice(lows[i], highs[i])
            within = haversine_km(lats[i], lons[i], self.lats[near], self.lons[near]) <= radius_km
            counts[i] = int(np.count_nonzero(within & (self.keys[near] != exclude[i])))
        return counts


def department_of_insee(insee: str) -> str:
    """The department of an INSEE commune code: « 23079 » -> « 23 », « 97411 » -> « 974 »."""
    return insee[:3] if insee.startswith("97") else insee[:2]


def read_communes_csv(path: Path) -> pd.DataFrame:
    """Read the INSEE communes CSV into the gazetteer's columns; codes stay strings."""
    try:
        frame = pd.read_csv(path, dtype=str, usecols=list(GAZETTEER_COLUMNS), encoding="utf-8")
    except FileNotFoundError:
        raise InvalidFile(f"{path} : fichier introuvable") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidFile(f"{path} : table des communes illisible ({error})") from None
    frame = frame.rename(columns=GAZETTEER_COLUMNS)
    frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce")
    frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce")
    frame["population"] = pd.to_numeric(frame["population"], errors="coerce").fillna(0).astype(int)
    # Delegated communes (COMD) carry no department in the table; their code says it.
    frame["department"] = frame["department"].fillna(frame["insee"].dropna().map(department_of_insee))
    frame = frame.dropna(subset=["insee", "department", "name", "lat", "lon"])
    if frame.empty:
        raise InvalidFile(f"{path} : aucune commune exploitable")
    return frame.reset_index(drop=True)


ARRONDISSEMENT = re.compile(r"^(?P<city>.+?) \d+(?:er|e|ème) Arrondissement$")
CITY_CODES = {"Paris": "75056", "Lyon": "69123", "Marseille": "13055"}


def short_name(commune: str) -> str:
    """A commune's name as people say it: « Lyon » for « Lyon 3e Arrondissement »."""
    city = ARRONDISSEMENT.match(commune)
    return city["city"] if city else commune


#: At most this many candidates are named in an « ambiguous commune » message.
MAX_LISTED_CANDIDATES = 5
#: Fuzzy score (0-100, rapidfuzz ratio over name keys) above which an unknown commune name
#: gets a suggestion. The plain ratio, not WRatio: partial matches would make every « saint … »
#: look close to « saint ».
COMMUNE_SUGGESTION_SCORE = 85
MAX_SUGGESTIONS = 3


def commune_label(name: str, department: str) -> str:
    """« Crocq (Creuse, 23) »: a commune with its department, as suggestions and forms write it."""
    return f"{name} ({DEPARTMENT_NAMES.get(department, department)}, {department})"


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    postcode: str | None
    department: str
    lat: float
    lon: float
    population: int = 0

    @property
    def label(self) -> str:
        """« Crocq (Creuse, 23) »: a commune as a message names it among homonyms."""
        return commune_label(self.name, self.department)


class Gazetteer:
    """Lookups over the communes table: by INSEE code, postcode, name (+department), nearest."""

    def __init__(self, frame: pd.DataFrame):
        # Full communes first, so that a code or coordinates shared with a delegated commune (the
        # table gives a delegated commune its new commune's code and centre) find the full one.
        rank = frame["type"].map({"COM": 0, "ARM": 1}).fillna(2)
        self.frame = frame.assign(_rank=rank).sort_values("_rank", kind="stable").reset_index(drop=True)
        self._by_insee: dict[str, int] = {}
        self._by_postcode: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        self._by_loose_name: dict[str, list[int]] = {}
        keys_by_department: dict[str, set[str]] = {}
        columns = ("insee", "postcode", "name", "name_article", "type", "department")
        for i, (insee, postcode, name, name_article, kind, department) in enumerate(
            zip(*(self.frame[c] for c in columns), strict=True)
        ):
            self._by_insee.setdefault(insee, i)
            if isinstance(postcode, str):
                self._by_postcode.setdefault(postcode, []).append(i)
            keys = {name_key(n) for n in (name, name_article) if isinstance(n, str)}
            for key in keys:
                self._by_name.setdefault(key, []).append(i)
            for key in {loose_key(k) for k in keys}:
                self._by_loose_name.setdefault(key, []).append(i)
            keys_by_department.setdefault(department, set()).update(keys)
            city = ARRONDISSEMENT.match(name) if kind == "ARM" else None
            if city:
                # Paris, Lyon and Marseille exist only as arrondissements in the table: their
                # city name and code stand for the first one.
                self._by_name.setdefault(name_key(city["city"]), [i])
                self._by_insee.setdefault(CITY_CODES.get(city["city"], ""), i)
        # Fuzzy suggestions search these, built once: every name key, and each department's.
        self._name_choices = list(self._by_name)
        self._name_choices_by_department = {d: sorted(k) for d, k in keys_by_department.items()}
        self._lats = self.frame["lat"].to_numpy()
        self._lons = self.frame["lon"].to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    def _commune(self, i: int) -> Commune:
        row = self.frame.iloc[i]
        postcode = row["postcode"] if isinstance(row["postcode"], str) else None
        return Commune(
            row["insee"],
            row["name"],
            postcode,
            row["department"],
            row["lat"],
            row["lon"],
            int(row["population"]) if "population" in row else 0,
        )

    def by_insee(self, insee: str) -> Commune | None:
        i = self._by_insee.get(insee)
        return None if i is None else self._commune(i)

    def _named(self, commune: str) -> list[int]:
        key = name_key(commune)
        return self._by_name.get(key) or self._by_loose_name.get(loose_key(key), [])

    def _in_department(self, rows: list[int], department: str | None) -> list[int]:
        return [r for r in rows if self.frame.at[r, "department"] == department] if department else rows

    def candidates(self, location: Location) -> list[Commune]:
        """Communes matching a location's codes and name, most populous first."""
        if location.insee:
            found = self.by_insee(location.insee)
            return [found] if found else []
        by_postcode = self._by_postcode.get(location.postcode, []) if location.postcode else []
        rows = self._in_department(by_postcode, location.department)
        if location.commune:
            key = name_key(location.commune)
            # The exact name first; without the skippable prepositions only when that finds none
            # (in the department given).
            for named in (self._by_name.get(key, []), self._by_loose_name.get(loose_key(key), [])):
                # The table holds each commune's main postcode only: a secondary postcode with
                # the right name still resolves by name.
                rows = [r for r in by_postcode if r in set(named)] or named
                rows = self._in_department(rows, location.department)
                if rows:
                    break
        # One commune per code: rows are sorted full communes first, so a delegated commune
        # named like its new commune, or an extra postcode row, gives way to the full commune.
        unique: dict[str, int] = {}
        for r in rows:
            unique.setdefault(str(self.frame.at[r, "insee"]), r)
        communes = [self._commune(r) for r in unique.values()]
        return sorted(communes, key=lambda c: (-c.population, c.department, c.insee))

    def suggestions(self, commune: str, department: str | None = None) -> list[tuple[str, Commune]]:
        """(name, commune) pairs close to an unknown name (in the department, if given), best first."""
        if department:
            elsewhere = [self._commune(r) for r in self._named(commune)]
            if elsewhere:  # The name exists, in another department.
                best = sorted(elsewhere, key=lambda c: -c.population)[:MAX_SUGGESTIONS]
                return [(short_name(c.name), c) for c in best]
            choices = self._name_choices_by_department.get(department, [])
        else:
            choices = self._name_choices
        found = process.extract(
            name_key(commune),
            choices,
            scorer=fuzz.ratio,
            limit=MAX_SUGGESTIONS * 2,
            score_cutoff=COMMUNE_SUGGESTION_SCORE,
        )
        ranked: dict[str, tuple[float, str, Commune]] = {}
        for key, score, _ in found:
            for r in self._by_name[key]:
                candidate = self._commune(r)
                if department and candidate.department != department:
                    continue
                # « Marseille », not its first arrondissement, when the city's name was close.
                city = short_name(candidate.name)
                name = city if key == name_key(city) else candidate.name
                ranked.setdefault(candidate.insee, (score, name, candidate))
        closest = sorted(ranked.values(), key=lambda entry: (-entry[0], -entry[2].population))
        return [(label, close) for _, label, close in closest[:MAX_SUGGESTIONS]]

    def starting_with(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[Commune]:
        """Communes whose name starts like ``prefix`` (accents and case ignored), most populous
        first: what a form suggests while a name is typed."""
        key = name_key(prefix)
        if len(key) < 2:
            return []
        rows = {r for name in self._name_choices if name.startswith(key) for r in self._by_name[name]}
        unique: dict[str, Commune] = {}
        for commune in sorted((self._commune(r) for r in rows), key=lambda c: -c.population):
            unique.setdefault(commune.insee, commune)
        return list(unique.values())[:limit]

    def nearest(self, lat: float, lon: float) -> Commune:
        return self._commune(int(np.argmin(haversine_km(lat, lon, self._lats, self._lons))))


def describe_location(location: Location) -> str:
    parts = [location.commune, location.postcode, location.insee, location.department]
    return " ".join(p for p in parts if p) or f"{location.lat}, {location.lon}"


def _not_found(location: Location, gazetteer: Gazetteer) -> LocationUnresolved:
    message = f"commune introuvable : {describe_location(location)}"
    if location.commune and not location.insee:
        close = gazetteer.suggestions(location.commune, location.department)
        if close:
            labels = either([f"{name} ({c.department})" for name, c in close])
            message += f" ; vouliez-vous dire {labels} ?"
    return LocationUnresolved(message)


def _ambiguous(location: Location, found: list[Commune]) -> LocationUnresolved:
    labels = [c.label for c in found[:MAX_LISTED_CANDIDATES]]
    others = len(found) - len(labels)
    rest = f"{others} autre" if others == 1 else f"{others} autres"
    listed = f"{', '.join(labels)} et {rest}" if others else either(labels)
    if location.commune and not location.department:
        hint = "ajoutez le département"
    elif location.commune:
        hint = "précisez le code postal ou le code INSEE"
    else:
        hint = "précisez le nom de la commune ou son code INSEE"
    return LocationUnresolved(f"commune ambiguë : {listed} ; {hint}")


def resolve(location: Location, gazetteer: Gazetteer | None) -> Location:
    """Complete a location to commune, codes, department and lat/lon, or raise LocationUnresolved.

    The record's own lat/lon and codes win over the gazetteer's; the gazetteer fills the gaps.
    """
    if gazetteer is None or len(gazetteer) == 0:
        if location.is_resolved:
            return location
        raise LocationUnresolved(
            "sans table des communes (matcher geo load), la localisation doit donner lat, lon "
            f"et department ; reçu : {describe_location(location)}"
        )
    if location.insee or location.postcode or location.commune:
        found = gazetteer.candidates(location)
        if not found:
            raise _not_found(location, gazetteer)
        if len(found) > 1:
            raise _ambiguous(location, found)
        commune = found[0]
    elif location.lat is not None and location.lon is not None:
        commune = gazetteer.nearest(location.lat, location.lon)
    else:  # Location's own validator forbids this.
        raise LocationUnresolved("localisation vide")
    return Location(
        commune=location.commune or commune.name,
        postcode=location.postcode or commune.postcode,
        insee=location.insee or commune.insee,
        department=location.department or commune.department,
        lat=location.lat if location.lat is not None else commune.lat,
        lon=location.lon if location.lon is not None else commune.lon,
    )
