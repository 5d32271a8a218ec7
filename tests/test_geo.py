"""Location resolution on the real INSEE table, areas said the way people say them, distances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from matcher.areas import (
    DEPARTMENT_NAMES,
    DEPARTMENT_REGIONS,
    REGIONS,
    region_label,
    resolve_department,
    resolve_region,
)
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


# --- departments and regions ------------------------------------------------------------------


def test_region_literals_match_the_shared_tables(communes_csv):
    departments = pd.read_csv(communes_csv.parent / "departements.csv", dtype=str)
    regions = pd.read_csv(communes_csv.parent / "regions.csv", dtype=str)
    assert dict(zip(regions["insee_reg"], regions["region"], strict=True)) == REGIONS
    assert dict(zip(departments["insee_dep"], departments["insee_reg"], strict=True)) == DEPARTMENT_REGIONS
    assert dict(zip(departments["insee_dep"], departments["departement"], strict=True)) == DEPARTMENT_NAMES


def test_every_department_and_region_resolves_from_its_code_and_its_name():
    for code, name in DEPARTMENT_NAMES.items():
        assert resolve_department(code) == code
        assert resolve_department(name) == code
        assert resolve_department(name.upper()) == code
    for code, name in REGIONS.items():
        assert resolve_region(code) == code
        assert resolve_region(name.lower()) == code
        assert region_label(code) == name


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("26", "26"),
        ("7", "07"),
        (" 07 ", "07"),
        ("Drôme", "26"),
        ("drome", "26"),
        ("DROME", "26"),
        ("Corse-du-Sud", "2A"),
        ("corse du sud", "2A"),
        ("2A", "2A"),
        ("2a", "2A"),
        ("2b", "2B"),
        ("Côtes d'Armor", "22"),
        ("Cotes-d'Armor", "22"),
        ("Val d'Oise", "95"),
        ("Val-de-Marne", "94"),
        ("Seine St Denis", "93"),
        ("la Creuse", "23"),
        ("département de la Creuse", "23"),
        ("Réunion", "974"),
        ("971", "971"),
    ],
)
def test_departments_resolve_from_codes_and_names_as_people_write_them(text, code):
    assert resolve_department(text) == code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("00", "département inconnu : 00$"),
        ("20", r"département inconnu : 20 ; vouliez-vous dire Corse-du-Sud \(2A\) ou Haute-Corse \(2B\) \?"),
        ("96", "département inconnu : 96$"),
        ("975", "département inconnu : 975$"),
        ("979", "département inconnu : 979$"),
        ("2C", "département inconnu : 2C$"),
        ("Dordone", r"département inconnu : Dordone ; vouliez-vous dire Dordogne \(24\) \?$"),
        ("xyz", "département inconnu : xyz$"),
        ("", r"département inconnu : \(vide\)$"),
    ],
)
def test_unknown_departments_are_refused_with_a_suggestion_when_one_is_close(text, message):
    with pytest.raises(LocationUnresolved, match=message):
        resolve_department(text)


def test_a_compound_of_two_departments_suggests_both():
    with pytest.raises(LocationUnresolved) as raised:
        resolve_department("Drome-Ardeche")
    message = str(raised.value)
    assert message.startswith("département inconnu : Drome-Ardeche ; vouliez-vous dire ")
    assert "Drôme (26)" in message and "Ardèche (07)" in message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("53", "53"),
        ("1", "01"),
        ("Bretagne", "53"),
        ("bretagne", "53"),
        ("Région Bretagne", "53"),
        ("Nouvelle Aquitaine", "75"),
        ("Auvergne-Rhône-Alpes", "84"),
        ("auvergne rhone alpes", "84"),
        ("AURA", "84"),
        ("PACA", "93"),
        ("Provence-Alpes-Côte d'Azur", "93"),
        ("Région Sud", "93"),
        ("Grand-Est", "44"),
        ("IDF", "11"),
        ("Île-de-France", "11"),
        ("ile de france", "11"),
        ("Hauts de France", "32"),
        ("Centre", "24"),
        ("Centre-Val de Loire", "24"),
        ("Centre Val Loire", "24"),
        ("Limousin", "75"),
        ("Midi-Pyrénées", "76"),
        ("Alsace", "44"),
        ("Nord-Pas-de-Calais", "32"),
    ],
)
def test_regions_resolve_from_codes_names_acronyms_and_former_regions(text, code):
    assert resolve_region(text) == code


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("99", "région inconnue : 99$"),
        ("Brtagne", r"région inconnue : Brtagne ; vouliez-vous dire Bretagne \(53\) \?$"),
        ("Occitani", r"région inconnue : Occitani ; vouliez-vous dire Occitanie \(76\) \?$"),
        ("Atlantide", "région inconnue : Atlantide$"),
    ],
)
def test_unknown_regions_are_refused_with_a_suggestion_when_one_is_close(text, message):
    with pytest.raises(LocationUnresolved, match=message):
        resolve_region(text)


def test_region_label_refuses_an_unknown_code():
    assert region_label("75") == "Nouvelle-Aquitaine"
    with pytest.raises(LocationUnresolved, match="région inconnue : 99"):
        region_label("99")


# --- communes as people say them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Saint-Léonard-de-Noblat", "St Leonard de Noblat", "ST-LÉONARD-DE-NOBLAT", "saint leonard noblat"],
)
def test_saint_and_skipped_prepositions_find_the_commune(gazetteer, name):
    resolved = resolve(Location(commune=name), gazetteer)
    assert (resolved.insee, resolved.department) == ("87161", "87")


def test_a_skipped_preposition_never_shadows_a_commune_of_that_exact_name(gazetteer):
    # « Neuville-du-Bosc » (27) without « du » is also the name of Neuville-Bosc (60).
    assert resolve(Location(commune="Neuville-Bosc"), gazetteer).insee == "60452"
    assert resolve(Location(commune="Neuville du Bosc"), gazetteer).insee == "27432"
    assert resolve(Location(commune="Neuville Bosc", department="27"), gazetteer).insee == "27432"


def test_delegated_communes_resolve_to_their_own_row_and_department(gazetteer):
    # The table gives a delegated commune (COMD) its new commune's code and no department.
    resolved = resolve(Location(commune="Longny-au-Perche"), gazetteer)
    assert (resolved.commune, resolved.insee, resolved.department) == ("Longny-au-Perche", "61230", "61")
    assert (resolved.lat, resolved.lon) == pytest.approx((48.54191, 0.80327))
    assert resolve(Location(commune="Longny-au-Perche", department="61"), gazetteer).insee == "61230"
    # A delegated commune named like its new commune is the new commune, not a homonym.
    assert resolve(Location(commune="Murat", department="15"), gazetteer).insee == "15138"


def test_a_delegated_commune_and_a_full_one_of_the_same_name_are_homonyms(gazetteer):
    with pytest.raises(LocationUnresolved) as raised:
        resolve(Location(commune="Vire"), gazetteer)
    assert str(raised.value) == (
        "commune ambiguë : Vire (Calvados, 14) ou Viré (Saône-et-Loire, 71) ; ajoutez le département"
    )
    assert resolve(Location(commune="Vire", department="14"), gazetteer).insee == "14762"


def test_ambiguous_communes_list_their_candidates(gazetteer):
    with pytest.raises(LocationUnresolved) as raised:
        resolve(Location(commune="Crocq"), gazetteer)
    assert str(raised.value) == (
        "commune ambiguë : Crocq (Creuse, 23) ou Crocq (Oise, 60) ; ajoutez le département"
    )
    assert resolve(Location(commune="Crocq", department="23"), gazetteer).insee == "23069"
    assert resolve(Location(commune="Le Crocq"), gazetteer).insee == "60182"


def test_many_homonyms_list_the_five_most_populous_and_count_the_others(gazetteer):
    with pytest.raises(LocationUnresolved) as raised:
        resolve(Location(commune="Sainte-Colombe"), gazetteer)
    assert str(raised.value) == (
        "commune ambiguë : Sainte-Colombe (Rhône, 69), Sainte-Colombe (Seine-et-Marne, 77), "
        "Sainte-Colombe (Landes, 40), Sainte-Colombe (Doubs, 25), Sainte-Colombe (Gironde, 33) "
        "et 7 autres ; ajoutez le département"
    )


def test_a_department_given_by_name_settles_an_ambiguous_commune(gazetteer):
    location = Location(commune="Crocq", department="Creuse")
    assert location.department == "23"
    assert resolve(location, gazetteer).insee == "23069"
    with pytest.raises(ValidationError, match="département inconnu : Creusse ; vouliez-vous dire Creuse"):
        Location(commune="Crocq", department="Creusse")


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (
            Location(commune="Eymoutier"),
            "commune introuvable : Eymoutier ; vouliez-vous dire Eymoutiers (87) ",
        ),
        (
            Location(commune="Eymoutier", department="87"),
            "commune introuvable : Eymoutier 87 ; vouliez-vous dire Eymoutiers (87) ?",
        ),
        (Location(commune="Feletin"), "commune introuvable : Feletin ; vouliez-vous dire Felletin (23) ?"),
        (Location(commune="Marseile"), "commune introuvable : Marseile ; vouliez-vous dire Marseille (13) ?"),
        (
            Location(commune="Felletin", department="87"),
            "commune introuvable : Felletin 87 ; vouliez-vous dire Felletin (23) ?",
        ),
        # Suggestions stay in the department given.
        (Location(commune="Eymoutier", department="23"), "commune introuvable : Eymoutier 23"),
        (Location(commune="Nullepart-sur-Rien"), "commune introuvable : Nullepart-sur-Rien"),
    ],
)
def test_unknown_communes_suggest_close_names(gazetteer, location, message):
    with pytest.raises(LocationUnresolved) as raised:
        resolve(location, gazetteer)
    assert str(raised.value).startswith(message)
    if "vouliez-vous" not in message:
        assert str(raised.value) == message


def test_counting_places_near_a_point_agrees_with_measuring_every_distance():
    from matcher.geo import Places, haversine_km

    rng = np.random.default_rng(7)
    lats, lons = rng.uniform(42, 51, 3000), rng.uniform(-4, 8, 3000)
    places = Places(lats, lons, keys=np.arange(3000))
    at = rng.integers(0, 3000, 200)
    counts = places.count_near(lats[at], lons[at], 30.0, exclude=at)
    distances = haversine_km(lats[at][:, None], lons[at][:, None], lats[None, :], lons[None, :])
    expected = ((distances <= 30.0) & (np.arange(3000)[None, :] != at[:, None])).sum(axis=1)
    assert counts.tolist() == expected.tolist() and expected.max() > 0
