"""Hard filters and relaxations on a hand-built catalogue: fast, no encoder, no database."""

from __future__ import annotations

import numpy as np

from matcher.domain import HolderProfile, Location
from matcher.explain import describe_relaxation
from matcher.filters import FILTER_ORDER, filter_grid, hard_filters, relaxation_options
from tests.handmade import PLACES, TODAY, hand_view, ids_at

PARIS = Location(commune="Paris", department="75", lat=48.8566, lon=2.3522)


def test_status_and_expiry_always_apply() -> None:
    view = hand_view()
    outcome = hard_filters(HolderProfile(project="n'importe quoi"), view, TODAY)
    assert ids_at(view, outcome.passing) == {
        "bakery", "grocery", "doctor", "cowork", "mason", "plumber", "cafe"
    }  # fmt: skip
    assert outcome.excluded == {name: 0 for name in FILTER_ORDER} | {"status": 1, "expired": 1}


def test_each_constraint_excludes_and_the_counts_add_up() -> None:
    view = hand_view()
    profile = HolderProfile(
        project="Reprendre un commerce",
        kinds=["takeover", "activity"],
        departments=["23", "19"],
        budget_eur=100_000,
        origin=PLACES["felletin"],
        max_distance_km=30,
    )
    outcome = hard_filters(profile, view, TODAY, rejected_ids={"mason"})
    assert ids_at(view, outcome.passing) == {"bakery", "doctor"}
    assert outcome.excluded == {
        "status": 1, "expired": 1, "kind": 1, "department": 1, "region": 0, "distance": 1, "budget": 1,
        "not_relevant": 1,
    }  # fmt: skip
    assert sum(outcome.excluded.values()) + int(outcome.passing.sum()) == len(view)


def test_a_coworking_rent_is_not_compared_with_the_budget() -> None:
    view = hand_view()
    outcome = hard_filters(HolderProfile(project="Télétravail", budget_eur=100), view, TODAY)
    assert "cowork" in ids_at(view, outcome.passing) and "bakery" not in ids_at(view, outcome.passing)


def test_an_unknown_price_passes_the_budget() -> None:
    view = hand_view()
    outcome = hard_filters(HolderProfile(project="Maçon", budget_eur=1), view, TODAY)
    assert "mason" in ids_at(view, outcome.passing)


def test_filters_restricted_to_some_positions_see_only_those() -> None:
    view = hand_view()
    positions = np.flatnonzero(np.isin(view.arrays["id"], ["bakery", "cafe"]))
    outcome = hard_filters(HolderProfile(project="x", departments=["23"]), view, TODAY, positions=positions)
    assert outcome.allowed_row_ids.tolist() == [1] and outcome.excluded["department"] == 1


def test_relaxations_say_the_smallest_widening_and_what_it_adds() -> None:
    view = hand_view()
    profile = HolderProfile(
        project="Boulangerie",
        budget_eur=70_000,
        origin=PLACES["felletin"],
        max_distance_km=15,
        kinds=["takeover"],
    )
    outcome = hard_filters(profile, view, TODAY)
    assert ids_at(view, outcome.passing) == set()
    options = {o.constraint: o for o in relaxation_options(profile, view, outcome, wanted=1)}
    # Crocq's bakery is 14 km away but 90 000 €: only the budget stops it.
    assert (options["budget_eur"].value, options["budget_eur"].additional) == (90_000, 1)
    assert describe_relaxation(options["budget_eur"]).text == "1 offre de plus avec un budget de 90 000 €"
    # Figeac's café (60 000 €) is 145 km away: ten times the holder's 15 km is another project.
    assert "max_distance_km" not in options
    # The doctor's post (0 €) and the mason's (price unknown) are in Felletin itself.
    kinds = describe_relaxation(options["kinds"])
    assert (
        kinds.value == ["activity"] and kinds.text == "2 offres de plus en acceptant aussi : offre d'activité"
    )


def test_regions_and_departments_by_name() -> None:
    view = hand_view()
    limousin = HolderProfile(project="x", regions=["Nouvelle Aquitaine"])  # Creuse (23) and Corrèze (19)
    assert limousin.regions == ["75"]
    outcome = hard_filters(limousin, view, TODAY)
    assert ids_at(view, outcome.passing) == {"bakery", "grocery", "doctor", "cowork", "mason", "plumber"}
    assert outcome.excluded["region"] == 1  # Figeac is in Occitanie
    by_name = HolderProfile(project="x", departments=["Corrèze", "lot"])
    assert by_name.departments == ["19", "46"]
    assert ids_at(view, hard_filters(by_name, view, TODAY).passing) == {"plumber", "cafe"}


def test_a_region_relaxation_names_the_region() -> None:
    view = hand_view()
    profile = HolderProfile(project="Café", regions=["Occitanie"], kinds=["activity"])
    outcome = hard_filters(profile, view, TODAY)
    options = {o.constraint: o for o in relaxation_options(profile, view, outcome, wanted=2)}
    assert options["regions"].value == ["75"]
    assert describe_relaxation(options["regions"]).text == "3 offres de plus en ajoutant : Nouvelle-Aquitaine"


def test_widenings_stay_within_reach_of_the_project() -> None:
    view = hand_view()
    # 60 000 € with 50 km: Crocq's bakery (90 000 €) is exactly +50 %, Aubusson's grocery
    # (150 000 €) is beyond reach; Figeac's café (145 km) is beyond twice the distance.
    profile = HolderProfile(
        project="Reprendre un commerce", budget_eur=60_000, origin=PLACES["felletin"], max_distance_km=50,
        kinds=["takeover"],
    )  # fmt: skip
    outcome = hard_filters(profile, view, TODAY)
    options = {o.constraint: o for o in relaxation_options(profile, view, outcome, wanted=5)}
    assert options["budget_eur"].value == 90_000 and options["budget_eur"].additional == 1
    assert "max_distance_km" not in options
    nearer = profile.model_copy(update={"max_distance_km": 80.0, "budget_eur": 200_000})
    options = {
        o.constraint: o for o in relaxation_options(nearer, view, hard_filters(nearer, view, TODAY), 5)
    }
    assert options["max_distance_km"].value == 150 and options["max_distance_km"].additional == 1

    # A coworking space is proposed to a remote worker, never to a carpenter seeking a workshop.
    carpenter = HolderProfile(project="Menuisier, je cherche un atelier à reprendre", kinds=["takeover"])
    options = {
        o.constraint: o for o in relaxation_options(carpenter, view, hard_filters(carpenter, view, TODAY), 9)
    }
    assert "coworking" not in options["kinds"].value
    remote = carpenter.model_copy(update={"remote_worker": True})
    options = {
        o.constraint: o for o in relaxation_options(remote, view, hard_filters(remote, view, TODAY), 9)
    }
    assert "coworking" in options["kinds"].value


def test_the_grid_of_many_holders_is_each_holders_own_filters() -> None:
    """One row per holder, each the masks, counts and distances of that holder alone."""
    view = hand_view()
    holders = [
        HolderProfile(project="x"),
        HolderProfile(project="x", kinds=["takeover"], budget_eur=100_000),
        HolderProfile(project="x", origin=PLACES["felletin"], max_distance_km=30, departments=["23", "19"]),
        HolderProfile(project="x", origin=PARIS, regions=["75"]),
        HolderProfile(project="x", kinds=["coworking", "activity"], budget_eur=0),
    ]
    rejected = [set(), {"bakery"}, set(), {"cafe", "mason"}, set()]
    positions = np.flatnonzero(~np.isin(view.arrays["id"], ["grocery"]))
    for restriction in (None, positions):
        grid = filter_grid(holders, view, TODAY, rejected, restriction)
        for i, (holder, marked) in enumerate(zip(holders, rejected, strict=True)):
            alone = hard_filters(holder, view, TODAY, marked, restriction)
            assert grid.passing[i].tolist() == alone.passing.tolist()
            assert grid.excluded_for(i) == alone.excluded
            assert {n: m[i].tolist() for n, m in grid.masks.items()} == {
                n: m.tolist() for n, m in alone.masks.items()
            }
            if alone.distances_km is None:
                assert not grid.located[i]
            else:
                assert grid.distances_km is not None
                assert grid.distances_km[i].tolist() == alone.distances_km.tolist()
