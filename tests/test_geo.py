"""Location resolution on the real INSEE table, and great-circle distances."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.domain import Location
from matcher.errors import LocationUnresolved
from matcher.geo import Gazetteer, haversine_km, read_communes_csv, resolve, short_name


@pytest.fixture(scope="module")
def gazetteer(communes_csv) -> Gazetteer:
    return Gazetteer(read_communes_csv(communes_csv))


def test_distances_are_great_circle_and_vectorised():
    # Paris (Notre-Dame) to Lyon (Bellecour) and to Marseille (Vieux-Port), by the haversine.
    distances = haversine_km(48.8530, 2.3499, np.array([45.7578, 43.2951]), np.array([4.8320, 5.3745]))
    assert distances == pytest.approx([392.0, 661.0], abs=2.0)
    assert haversine_km(45.0, 3.0, np.array([45.0]), np.array([3.0]))[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("location", "insee", "department"),
    [
        (Location(insee="23079"), "23079", "23"),
        (Location(commune="Felletin"), "23079", "23"),
        (Location(commune="felletin", postcode="23500"), "23079", "23"),
        (Location(commune="St Étienne"), "42218", "42"),
        (Location(commune="Saint-Martin", department="32"), "32389", "32"),
        (Location(commune="Lyon"), "69381", "69"),
        (Location(insee="75056"), "75056", "75"),
    ],
)
def test_resolves_codes_names_and_city_aliases(gazetteer, location, insee, department):
    resolved = resolve(location, gazetteer)
    assert (resolved.insee, resolved.department) == (insee, department)
    assert resolved.lat is not None and resolved.lon is not None


def test_coordinates_find_the_department_of_the_nearest_commune(gazetteer):
    resolved = resolve(Location(lat=45.8943, lon=2.1870), gazetteer)
    assert resolved.department == "23" and resolved.lat == 45.8943


def test_record_coordinates_win_over_the_table(gazetteer):
    resolved = resolve(Location(commune="Felletin", lat=45.9, lon=2.2), gazetteer)
    assert (resolved.lat, resolved.lon, resolved.insee) == (45.9, 2.2, "23079")


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (Location(commune="Saint-Martin"), "commune ambiguë : Saint-Martin"),
        (Location(commune="Nullepart-sur-Rien"), "commune introuvable : Nullepart-sur-Rien"),
        (Location(insee="99999"), "commune introuvable : 99999"),
        (Location(postcode="23500"), "précisez le nom de la commune"),
    ],
)
def test_unresolvable_locations_say_why(gazetteer, location, message):
    with pytest.raises(LocationUnresolved, match=message):
        resolve(location, gazetteer)


def test_short_names_drop_the_arrondissement():
    assert short_name("Paris 20e Arrondissement") == "Paris"
    assert short_name("Lyon 1er Arrondissement") == "Lyon"
    assert short_name("Felletin") == "Felletin"
