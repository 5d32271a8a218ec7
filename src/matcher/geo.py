"""Gazetteer, location resolution and great-circle distances.

The gazetteer is the official INSEE communes table, loaded into the database by
``matcher geo load PATH``. Without it, records must carry lat/lon and a department.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.domain import Location
from matcher.errors import InvalidFile, LocationUnresolved

EARTH_RADIUS_KM = 6371.0088

#: Department names, for reasons a person reads (« Dans la Creuse »).
DEPARTMENT_NAMES: dict[str, str] = {
    "01": "Ain",
    "02": "Aisne",
    "03": "Allier",
    "04": "Alpes-de-Haute-Provence",
    "05": "Hautes-Alpes",
    "06": "Alpes-Maritimes",
    "07": "Ardèche",
    "08": "Ardennes",
    "09": "Ariège",
    "10": "Aube",
    "11": "Aude",
    "12": "Aveyron",
    "13": "Bouches-du-Rhône",
    "14": "Calvados",
    "15": "Cantal",
    "16": "Charente",
    "17": "Charente-Maritime",
    "18": "Cher",
    "19": "Corrèze",
    "21": "Côte-d'Or",
    "22": "Côtes-d'Armor",
    "23": "Creuse",
    "24": "Dordogne",
    "25": "Doubs",
    "26": "Drôme",
    "27": "Eure",
    "28": "Eure-et-Loir",
    "29": "Finistère",
    "2A": "Corse-du-Sud",
    "2B": "Haute-Corse",
    "30": "Gard",
    "31": "Haute-Garonne",
    "32": "Gers",
    "33": "Gironde",
    "34": "Hérault",
    "35": "Ille-et-Vilaine",
    "36": "Indre",
    "37": "Indre-et-Loire",
    "38": "Isère",
    "39": "Jura",
    "40": "Landes",
    "41": "Loir-et-Cher",
    "42": "Loire",
    "43": "Haute-Loire",
    "44": "Loire-Atlantique",
    "45": "Loiret",
    "46": "Lot",
    "47": "Lot-et-Garonne",
    "48": "Lozère",
    "49": "Maine-et-Loire",
    "50": "Manche",
    "51": "Marne",
    "52": "Haute-Marne",
    "53": "Mayenne",
    "54": "Meurthe-et-Moselle",
    "55": "Meuse",
    "56": "Morbihan",
    "57": "Moselle",
    "58": "Nièvre",
    "59": "Nord",
    "60": "Oise",
    "61": "Orne",
    "62": "Pas-de-Calais",
    "63": "Puy-de-Dôme",
    "64": "Pyrénées-Atlantiques",
    "65": "Hautes-Pyrénées",
    "66": "Pyrénées-Orientales",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "69": "Rhône",
    "70": "Haute-Saône",
    "71": "Saône-et-Loire",
    "72": "Sarthe",
    "73": "Savoie",
    "74": "Haute-Savoie",
    "75": "Paris",
    "76": "Seine-Maritime",
    "77": "Seine-et-Marne",
    "78": "Yvelines",
    "79": "Deux-Sèvres",
    "80": "Somme",
    "81": "Tarn",
    "82": "Tarn-et-Garonne",
    "83": "Var",
    "84": "Vaucluse",
    "85": "Vendée",
    "86": "Vienne",
    "87": "Haute-Vienne",
    "88": "Vosges",
    "89": "Yonne",
    "90": "Territoire de Belfort",
    "91": "Essonne",
    "92": "Hauts-de-Seine",
    "93": "Seine-Saint-Denis",
    "94": "Val-de-Marne",
    "95": "Val-d'Oise",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "976": "Mayotte",
}

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


def name_key(name: str) -> str:
    """Normalise a commune name for lookup: no accents, no case, no punctuation."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    expand = {"st": "saint", "ste": "sainte"}
    return " ".join(expand.get(w, w) for w in words)


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


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    postcode: str | None
    department: str
    lat: float
    lon: float


class Gazetteer:
    """Lookups over the communes table: by INSEE code, postcode, name (+department), nearest."""

    def __init__(self, frame: pd.DataFrame):
        # Full communes first, so that a name shared with a delegated commune finds the full one.
        rank = frame["type"].map({"COM": 0, "ARM": 1}).fillna(2)
        self.frame = frame.assign(_rank=rank).sort_values("_rank", kind="stable").reset_index(drop=True)
        self._by_insee: dict[str, int] = {}
        self._by_postcode: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        columns = ("insee", "postcode", "name", "name_article", "type")
        for i, (insee, postcode, name, name_article, kind) in enumerate(
            zip(*(self.frame[c] for c in columns), strict=True)
        ):
            self._by_insee.setdefault(insee, i)
            if isinstance(postcode, str):
                self._by_postcode.setdefault(postcode, []).append(i)
            keys = {name_key(n) for n in (name, name_article) if isinstance(n, str)}
            for key in keys:
                self._by_name.setdefault(key, []).append(i)
            city = ARRONDISSEMENT.match(name) if kind == "ARM" else None
            if city:
                # Paris, Lyon and Marseille exist only as arrondissements in the table: their
                # city name and code stand for the first one.
                self._by_name.setdefault(name_key(city["city"]), [i])
                self._by_insee.setdefault(CITY_CODES.get(city["city"], ""), i)
        self._lats = self.frame["lat"].to_numpy()
        self._lons = self.frame["lon"].to_numpy()

    def __len__(self) -> int:
        return len(self.frame)

    def _commune(self, i: int) -> Commune:
        row = self.frame.iloc[i]
        postcode = row["postcode"] if isinstance(row["postcode"], str) else None
        return Commune(row["insee"], row["name"], postcode, row["department"], row["lat"], row["lon"])

    def by_insee(self, insee: str) -> Commune | None:
        i = self._by_insee.get(insee)
        return None if i is None else self._commune(i)

    def candidates(self, location: Location) -> list[Commune]:
        """Communes matching a location's codes and name, most specific first."""
        if location.insee:
            found = self.by_insee(location.insee)
            return [found] if found else []
        rows: list[int] = []
        if location.postcode:
            rows = self._by_postcode.get(location.postcode, [])
        if location.commune:
            named = self._by_name.get(name_key(location.commune), [])
            # The table holds each commune's main postcode only: a secondary postcode with the
            # right name still resolves by name.
            rows = [r for r in rows if r in set(named)] or named
        if not rows:
            return []
        if location.department:
            rows = [r for r in rows if self.frame.at[r, "department"] == location.department]
        # Rows are sorted full communes first: a name shared by a full commune and delegated
        # ones (old communes merged into a new one) means the full commune.
        best = [r for r in rows if self.frame.at[r, "_rank"] == self.frame.at[rows[0], "_rank"]]
        # A commune with several postcodes has one row per postcode.
        unique = {self.frame.at[r, "insee"]: r for r in reversed(best)}
        return [self._commune(r) for r in reversed(unique.values())]

    def nearest(self, lat: float, lon: float) -> Commune:
        return self._commune(int(np.argmin(haversine_km(lat, lon, self._lats, self._lons))))


def describe_location(location: Location) -> str:
    parts = [location.commune, location.postcode, location.insee, location.department]
    return " ".join(p for p in parts if p) or f"{location.lat}, {location.lon}"


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
            raise LocationUnresolved(f"commune introuvable : {describe_location(location)}")
        if len(found) > 1:
            departments = ", ".join(sorted({c.department for c in found}))
            raise LocationUnresolved(
                f"commune ambiguë : {describe_location(location)} (départements {departments}) ; "
                "précisez le nom de la commune ou son code INSEE"
            )
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
